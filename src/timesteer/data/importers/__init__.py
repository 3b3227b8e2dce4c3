"""Importers: real driving recordings in, timesteer recordings out.

    from timesteer.data import ImportConfig, import_recording
    import_recording(ImportConfig(format="udacity-sim", src="track1", dest="rec", size=(66, 200)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from timesteer.config import PixelsAcross, Positive, Range, Seconds, Workers, validate
from timesteer.data.importers import deeptesla, donkey, lerobot, sully, udacity, udacity_sim, video
from timesteer.data.importers.screen import Skips
from timesteer.data.importers.source import ParsedSource
from timesteer.data.importers.write import WriteOptions, write_recording
from timesteer.data.manifest import SteeringKind, SteeringUnit
from timesteer.data.writer import check_destination
from timesteer.errors import ConfigError, InputError

PARSERS: dict[str, Callable[..., ParsedSource]] = {
    "udacity-sim": udacity_sim.parse,
    "udacity": udacity.parse,
    "deeptesla": deeptesla.parse,
    "video": video.parse,
    "donkey": donkey.parse,
    "sully": sully.parse,
    "lerobot": lerobot.parse,
}


@dataclass
class ImportConfig:
    format: str
    src: str
    dest: str
    # (height, width) of stored frames; None keeps the source size
    size: Annotated[tuple[int, int] | None, PixelsAcross] = None
    # rows cut from the top and bottom, in source pixels, before resizing
    crop: Annotated[tuple[int, int], Range(0, 8192)] = (0, 0)
    camera: str | None = None  # udacity-sim: center|left|right|all; udacity: a frame_id; lerobot: a video key
    steering: str | None = None  # lerobot: the field holding steering (`action.steering`, `action[0]`)
    overwrite: bool = False
    # split segments at gaps above this; default 5 frame periods and at least 0.5 s
    gap_threshold_s: Annotated[float | None, Seconds] = None
    workers: Annotated[int, Workers] = 0  # image decoding threads; 0 = one per CPU (up to 8)
    csv: str | None = None  # video: the CSV, when not SRC with .csv
    # The recording's frame rate: sources with timestamps are resampled to it (frames dropped, never
    # invented); a sully log without timestamps is taken to run at it (default 30).
    fps: Annotated[float | None, Range(0, 10_000, open_min=True)] = None
    steering_unit: SteeringUnit | None = None  # video: unit of the CSV's steering column
    steering_to_rad: Annotated[float | None, Positive] = None  # video: factor from that unit to radians
    # video, lerobot: what the steering sets (a wheel angle, or a turn rate: a differential drive's yaw
    # command); the models that use time measure their motion against the distance or the time accordingly
    steering_kind: SteeringKind | None = None
    progress: bool = True
    # Refuse the first broken record (missing or undecodable image, NaN or out-of-range steering)
    # instead of skipping it.
    strict: bool = False
    # How frames are stored: "npy" raw and memory-mapped (40 KB a frame at 66x200), or "video", an
    # all-intra H.264 MP4 per camera (about 12x smaller at 66x200; decoded when read; data/videostore.py).
    store: Literal["npy", "video"] = "npy"

    def __post_init__(self) -> None:
        validate(self)
        if self.format not in PARSERS:
            raise ConfigError(f"format: unknown format {self.format!r}; expected one of {', '.join(PARSERS)}")


def import_recording(config: ImportConfig) -> Path:
    """Import `config.src` in `config.format` into a new recording at `config.dest`; returns its path.

    Broken records are skipped unless `config.strict`; the manifest's `source.details.skipped` says how
    many, why, and where the first few were (`skipped_records` reads it)."""
    src = Path(config.src)
    if not src.exists():
        raise InputError(src, "source not found")
    dest = Path(config.dest)
    sources = tuple(p for p in (src, src.parent if src.is_file() else None,
                                Path(config.csv) if config.csv else None) if p is not None)
    check_destination(dest.absolute(), config.overwrite, sources)  # fail before reading anything
    skips = Skips(strict=config.strict)
    parsed = PARSERS[config.format](src, camera=config.camera, csv=config.csv, fps=config.fps, steering=config.steering,
                                    steering_unit=config.steering_unit, steering_to_rad=config.steering_to_rad,
                                    steering_kind=config.steering_kind,
                                    skips=skips)
    options = WriteOptions(dest=dest, size=config.size, crop=config.crop, overwrite=config.overwrite,
                           gap_threshold_s=config.gap_threshold_s, workers=config.workers,
                           progress=config.progress, fps=config.fps, sources=sources, strict=config.strict,
                           store=config.store)
    return write_recording(parsed, options, skips)


__all__ = ["PARSERS", "ImportConfig", "import_recording"]
