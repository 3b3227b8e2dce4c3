"""Who steers in a simulator: the expert, or a trained run through its `Steerer` (the same preprocessing
and carried state as live use, stepping on the clock: a lost frame, which comes again with its old
timestamp, does not advance the model)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from timesteer.errors import TimesteerError
from timesteer.sim.carracing import OBS_SIZE
from timesteer.sim.episode import Policy
from timesteer.train.run import RunInfo, Which, read_run_info

EXPERT = "expert"


def check_run_drives_carracing(run_dir: str, info: RunInfo) -> None:
    f, unit = info.data.frame, info.data.steering.unit
    if unit != "rad" or (f.source_height, f.source_width) != OBS_SIZE:
        raise TimesteerError(f"{run_dir}: trained on {f.source_height}x{f.source_width} frames with steering in "
                             f"{unit!r}; driving CarRacing needs a model trained on `timesteer record-sim` "
                             f"recordings (96x96 observations, radians)")


def model_policy(run_dir: str, checkpoint: Which = "best", device: str = "cpu",
                 backend: str = "torch") -> tuple[Policy, Callable[[], None]]:
    """(policy, reset) for a trained run."""
    from timesteer.stream.steerer import Steerer

    steerer = Steerer.from_run(run_dir, checkpoint, device, backend=backend, threads=1)  # type: ignore[arg-type]
    steerer.gap_reset_s = None  # the simulator's clock has no pauses; interventions reset explicitly
    steerer.slow_warned = True  # lost frames are a driving condition here, not a slow camera to warn about

    def policy(frame: Any, t_s: float) -> float:
        return steerer.step(frame, t_s)

    return policy, steerer.reset


def read_driver(run_dir: str) -> RunInfo | None:
    """The run's description (checked to be a CarRacing driver), or None for the expert."""
    if run_dir == EXPERT:
        return None
    info = read_run_info(run_dir)
    check_run_drives_carracing(run_dir, info)
    return info
