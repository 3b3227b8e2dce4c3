"""The small interface every simulator offers timesteer: a seeded reset, a physics step with a command,
a camera frame, and the lane geometry an expert needs. Driving conditions, the expert, `drive`,
`record-sim` and DAgger are written against it, never against one simulator's internals.

Conventions: steering in radians of road-wheel angle, positive to the right; positions in metres;
"ahead" points are in the car's frame, x forward and y to the left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import numpy as np

from timesteer.data.manifest import DashcamView, TopDownView


@dataclass
class LaneState:
    """Where the car is relative to its lane (or road)."""

    offset_m: float  # signed distance from the centre line, + right of the direction of travel
    half_width_m: float  # leaving the lane by more than this is an intervention
    progress_m: float  # distance driven along the route since the start (backwards counts negative)
    route_length_m: float  # one lap, or the length of the route
    # Why the car is out, where the simulator says more than the offset does ("collision", "off road");
    # empty: judged by the offset alone.
    cause: str = ""

    @property
    def off_lane(self) -> bool:
        return bool(self.why_out)

    @property
    def why_out(self) -> str:
        """Why this is an intervention: the simulator's cause, else "left lane"; empty when in the lane."""
        return self.cause or ("left lane" if abs(self.offset_m) > self.half_width_m else "")


class Simulator(Protocol):
    """What timesteer needs from a simulator. Implementations: `CarRacingSim`, `DuckietownSim` (each
    registered in sim/registry.py; `SimulatorDefaults` gives the optional parts their usual values)."""

    physics_dt_s: float  # one physics step
    warmup_s: float  # simulated seconds before anyone steers from its frames (CarRacing zooms in)
    expert_law: ExpertLaw  # how the expert steers here (sim/expert.py)
    expert_defaults: ClassVar[dict[str, float]]  # ExpertConfig values this simulator needs (its speeds)
    max_steer_rad: float  # the wheels' stop
    wheelbase_m: float  # for the expert's kinematic prediction
    frame_shape: tuple[int, int, int]  # (H, W, 3) of `camera()`
    crop_bottom: int  # rows at the bottom of `camera()` no model may see (a dashboard)

    @property
    def t_s(self) -> float: ...

    @property
    def speed_mps(self) -> float: ...

    @property
    def wheel_angle_rad(self) -> float:
        """The road wheels' angle now (they turn towards the command at a finite rate)."""
        ...

    def physics_step(self, steer_rad: float, target_speed_mps: float) -> None:
        """Advance one physics step steering at `steer_rad`, the pedals holding `target_speed_mps`."""
        ...

    def camera(self) -> np.ndarray:
        """The camera frame now: RGB uint8 (H, W, 3)."""
        ...

    def lane(self) -> LaneState: ...

    def point_ahead(self, ahead_m: float) -> tuple[float, float]:
        """The centre line `ahead_m` further along the route, in the car's frame (forward, left) metres.
        The `pure_pursuit` expert's target."""
        ...

    def lane_law(self, ahead_m: float) -> float:
        """The simulator's own lane-following command for the lane `ahead_m` ahead: the `lane_ahead`
        expert's (Duckietown's, where the lane is known to the simulator, not as a centre line)."""
        ...

    def bend_ahead(self, ahead_m: float) -> float:
        """How much the route turns over the next `ahead_m` metres (radians, unsigned): for speed planning."""
        ...

    def put_back(self) -> None:
        """An intervention: the car back on the centre line a little ahead, facing along the route, at rest."""
        ...

    def close(self) -> None: ...


ExpertLaw = Literal["pure_pursuit", "lane_ahead"]


class SimulatorDefaults:
    """The usual values of the optional parts of `Simulator`; an adapter inherits them and overrides
    what differs. Of the two expert laws a simulator offers one: `point_ahead` (pure pursuit, the
    default) or `lane_law`; the other says which to use."""

    warmup_s: float = 0.0
    # Where the camera sees the car, written into every recording (push augmentation needs it); None:
    # a camera whose picture cannot be moved as the car would be (a forward dashcam, for now).
    camera_view: ClassVar[TopDownView | DashcamView | None] = None
    expert_law: ExpertLaw = "pure_pursuit"
    expert_defaults: ClassVar[dict[str, float]] = {}

    def lane_law(self, ahead_m: float) -> float:
        raise NotImplementedError(f"{type(self).__name__}'s expert steers by pure pursuit (point_ahead)")
