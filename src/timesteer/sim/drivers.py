"""Who steers in a simulator: the expert, or a trained run through its `Steerer` (the same preprocessing
and carried state as live use, stepping on the clock: a lost frame, which comes again with its old
timestamp, does not advance the model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.sim.episode import Policy
from timesteer.sim.registry import simulator_entry, simulator_names
from timesteer.train.run import RunInfo, Which, read_run_info

EXPERT = "expert"


def run_simulator(info: RunInfo) -> str | None:
    """The simulator a run's recordings came from, when they are still there to ask."""
    for ref in info.data.recordings:
        try:
            fmt = Recording.open(ref.path).manifest.source.format
        except TimesteerError:
            continue
        if fmt in simulator_names():
            return fmt
    return None


def check_run_drives(run_dir: str, info: RunInfo, sim: str) -> None:
    f, unit = info.data.frame, info.data.steering.unit
    entry = simulator_entry(sim)
    size = entry.make.frame_shape[:2]
    if unit != entry.unit or (f.source_height, f.source_width) != size:
        raise TimesteerError(f"{run_dir}: trained on {f.source_height}x{f.source_width} frames with steering in "
                             f"{unit!r}; driving {sim} needs a model trained on `timesteer record-sim --sim {sim}` "
                             f"recordings ({size[1]}x{size[0]} frames, {entry.unit!r})")


class ModelDriver(NamedTuple):
    policy: Policy
    reset: Callable[[], None]  # a new drive (after an intervention)
    issued: Callable[[float], None]  # the command the car was given at this frame (the expert's, in a takeover)
    speed: Callable[[float], None]  # the car's speed (m/s, the unit record-sim writes) when the frame was taken
    lead_s: float | None = None  # the latency the steering output was learned for (None: a run from before it)


def model_policy(run_dir: str, checkpoint: Which = "best", device: str = "cpu",
                 backend: str = "torch", latency_ms: float = 0.0) -> ModelDriver:
    """(policy, reset, issued) for a trained run, on a car whose commands act `latency_ms` after the frame
    (the driving conditions'): a model with lead heads steers with the one for it (train/lead_heads.py)."""
    from timesteer.stream.steerer import Steerer

    steerer = Steerer.from_run(run_dir, checkpoint, device, backend=backend, threads=1,  # type: ignore[arg-type]
                               latency_s=latency_ms / 1000.0)
    lead_s = steerer.lead_s
    steerer.gap_reset_s = None  # the simulator's clock has no pauses; interventions reset explicitly
    steerer.slow_warned = True  # lost frames are a driving condition here, not a slow camera to warn about

    speed_mps: list[float | None] = [None]  # the latest, for a model built with motion_per_distance

    def policy(frame: Any, t_s: float) -> float:
        return steerer.step(frame, t_s, speed_mps[0])

    def speed(value: float) -> None:
        speed_mps[0] = value

    return ModelDriver(policy, steerer.reset, steerer.issued, speed, lead_s)


def read_driver(run_dir: str, sim: str | None = None) -> RunInfo | None:
    """The run's description (checked to be able to drive `sim`, by default the simulator its recordings
    came from, else CarRacing), or None for the expert."""
    if run_dir == EXPERT:
        return None
    info = read_run_info(run_dir)
    check_run_drives(run_dir, info, sim or run_simulator(info) or "carracing")
    return info
