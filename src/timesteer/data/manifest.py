"""The manifest: the JSON file that makes a recording directory self-describing.

A recording directory holds
- `manifest.json`  this file: format version, source, frame size, rate, steering unit and kind, cameras,
                   segments;
- `signals.csv`    one row per frame: `timestamp_s`, `steering`, `segment` and, when the source has them,
                   `speed`, `throttle`, `brake`, `torque`;
- `frames.npy`     uint8 array (N, H, W, C) of the primary camera, opened with memory mapping;
- `frames_<camera>.npy` for extra aligned cameras (e.g. Udacity's left and right views);
- or, imported with `--store video`, `frames.mp4` / `frames_<camera>.mp4` (data/videostore.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from timesteer.config import from_dict, to_dict
from timesteer.errors import ConfigError, InputError

FORMAT_NAME = "timesteer.recording"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SIGNALS_FILE = "signals.csv"

SteeringUnit = Literal["rad", "deg_wheel", "normalized"]
# What the steering sets: a wheel angle (a car's, a servo's: the curve's curvature, whatever the speed) or a
# turn rate (a differential drive's yaw command: a curve asks more of it the faster the car goes).
SteeringKind = Literal["wheel_angle", "turn_rate"]
# Sources whose steering is a wheel or servo angle whatever the file says (for manifests without `kind`).
WHEEL_ANGLE_FORMATS = ("udacity-sim", "udacity", "deeptesla", "sully", "donkey", "carracing")


@dataclass
class Steering:
    """What the `steering` column means. Positive steers right (Udacity, DeepTesla, CarRacing)."""

    unit: SteeringUnit = "rad"
    # Multiply a value by this to get radians of road-wheel angle, when known
    # (Udacity simulator: 1.0 is 25 degrees; a car's wheel degrees need its steering ratio).
    to_rad: float | None = 1.0
    note: str = ""
    kind: SteeringKind | None = None  # None: not said (recordings before 2026-12-06, a user's CSV)


@dataclass
class Camera:
    name: str
    file: str
    # Steering correction a model should add when it sees this camera instead of the primary one,
    # in the recording's steering unit (None: not a side camera). Set at training time, not here.
    side: Literal["center", "left", "right"] | None = None


@dataclass
class Segment:
    """A contiguous run of frames [start, stop) with no time gap above the import threshold."""

    start: int
    stop: int
    start_time_s: float = 0.0
    duration_s: float = 0.0

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass
class FrameGeometry:
    height: int
    width: int
    channels: int = 3
    # How the stored frames were made from the source's: crop rows in source pixels, then resize.
    source_height: int = 0
    source_width: int = 0
    crop_top: int = 0
    crop_bottom: int = 0


@dataclass
class TopDownView:
    """Where a camera that looks straight down (CarRacing's) sees the car, in source pixels (before any
    crop or resize), so that an augmentation can move the car in the picture as a push would
    (data/push.py). The picture turns with the car: forward is up."""

    pivot_row_px: float  # the car's centre of rotation, in pixel-centre coordinates (pixel k's centre is k)
    pivot_col_px: float
    px_per_m_across: float  # pixels per metre left to right
    px_per_m_along: float  # pixels per metre bottom to top (CarRacing squeezes its 1000x800 window into 96x96)
    wheelbase_m: float  # the car's, for how fast a push turns it
    # Rows [top, bottom) and columns [left, right) drawn on the picture rather than seen on the ground
    # (CarRacing's cover over the car): they stay where they are when the picture moves.
    fixed_px: tuple[int, int, int, int] | None = None
    full_lock_rad: float = 0.4  # the wheels' largest angle (CarRacing's); a push is a fraction of it


@dataclass
class DashcamView:
    """Where a forward camera (Duckietown's dashcam) sits on the car and how it projects, in source pixels
    (before any crop or resize), and how the car turns, so that an augmentation can move the car in the
    picture as a push would (data/dashcam.py): the road is taken as a flat ground, what lies above the
    horizon as far away. A pinhole camera; the car's frame has its origin at the centre of rotation."""

    focal_px: float  # pixels per unit of tan(angle), both ways (square pixels)
    centre_row_px: float  # the optical axis, in pixel-centre coordinates
    centre_col_px: float
    height_m: float  # above the ground
    ahead_m: float  # ahead of the centre of rotation
    tilt_down_rad: float  # the optical axis below the horizontal
    yaw_rate_per_unit: float  # the car's yaw rate (rad/s) per unit of its steering (a yaw command)
    full_lock: float  # the steering's largest value, in its own unit; a push is a fraction of it


@dataclass
class Source:
    format: str
    path: str
    details: dict[str, Any] = field(default_factory=dict)

    def condition(self, name: str) -> float:
        """A driving condition the recording was made under (`noise`, `latency_ms`, ...), as a simulator
        recording's `details.conditions` says; 0 where it does not say (a real car's import)."""
        conditions = self.details.get("conditions")
        value = conditions.get(name, 0.0) if isinstance(conditions, dict) else 0.0
        return float(value) if isinstance(value, int | float) else 0.0


@dataclass
class Manifest:
    source: Source
    frame: FrameGeometry
    fps: float
    steering: Steering
    cameras: list[Camera]
    segments: list[Segment]
    frames: int
    signals: list[str]
    created_at: str = ""
    gap_threshold_s: float = 0.0
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    timesteer_version: str = ""
    view: TopDownView | None = None  # the primary camera's view, where the recording knows it (simulators)
    dashcam: DashcamView | None = None  # or, for a forward camera, where it sits and how it projects

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    @property
    def steering_kind(self) -> SteeringKind | None:
        """What the steering sets, as the manifest says or as its source implies (recordings made before the
        manifest said it): a camera view from above is CarRacing's (a wheel angle), a dashcam's view is
        Duckietown's (a yaw command), and the importers of cars' logs read wheel or servo angles. None where
        nothing says (a user's video and CSV, a LeRobot dataset): models then leave their motion as read."""
        if self.steering.kind is not None:
            return self.steering.kind
        if self.dashcam is not None or self.source.format == "duckietown":
            return "turn_rate"
        if self.view is not None or self.source.format in WHEEL_ANGLE_FORMATS:
            return "wheel_angle"
        return None

    def camera(self, name: str | None = None) -> Camera:
        if name is None:
            return self.cameras[0]
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise ConfigError(f"camera {name!r} is not in this recording (it has {[c.name for c in self.cameras]})")

    def to_json(self) -> str:
        return json.dumps(to_dict(self), indent=2, allow_nan=False) + "\n"

    def validate(self, where: str | Path) -> None:
        if self.format != FORMAT_NAME:
            raise InputError(where, f"not a timesteer recording manifest (format {self.format!r})")
        if self.format_version > FORMAT_VERSION:
            raise InputError(where, f"format version {self.format_version} is newer than this timesteer "
                                    f"understands ({FORMAT_VERSION}); upgrade timesteer")
        if not self.cameras:
            raise InputError(where, "expected at least one camera")
        for cam in self.cameras:
            if Path(cam.file).name != cam.file or not cam.file.endswith((".npy", ".mp4")):
                raise InputError(where, f"camera {cam.name!r}: expected a .npy or .mp4 file name inside the "
                                        f"recording, got {cam.file!r}")
        g = self.frame
        if min(g.height, g.width, g.channels) <= 0:
            raise InputError(where, f"expected a positive frame size, got {g.height}x{g.width}x{g.channels}")
        if self.frames < 0:
            raise InputError(where, f"expected a frame count >= 0, got {self.frames}")
        position = 0
        for k, seg in enumerate(self.segments):
            if seg.start != position or seg.stop <= seg.start:
                raise InputError(where, f"segment {k} covers frames {seg.start}-{seg.stop}; expected segments in "
                                        f"order, each starting where the last stopped ({position})")
            position = seg.stop
        if position != self.frames:
            raise InputError(where, f"segments cover {position} frames but the recording has {self.frames}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise InputError(where, f"expected a positive frame rate, got {self.fps}")


def read_manifest(directory: str | Path) -> Manifest:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise InputError(path, "no manifest here: expected a recording directory made by `timesteer import` "
                               "or `timesteer record-sim`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"expected a JSON manifest, could not read it ({exc})") from None
    try:
        manifest = from_dict(Manifest, data, where="manifest")
    except ConfigError as exc:
        raise InputError(path, f"not a valid timesteer manifest ({exc})") from None
    manifest.validate(path)
    return manifest
