"""The default of what a model's motion is measured against, settled from the recordings it trains on.

A model that reads motion between frames (`diffnet`; `cnn_gru`, `cnn_lstm`, `rnn` with motion) learns
the size of that motion, and the size grows with the speed and the frame period: a car driven faster or
a frame lost doubles it, and a model that learned "this much slide, this much steering" from one speed
steers wrong at another (issue 29's copycat shortcut). What to divide it by depends on what the steering
sets, which the recording's manifest says (`Manifest.steering_kind`):

- a **wheel angle** (cars, servos, CarRacing, the Udacity simulator) sets the curve's curvature whatever
  the speed, so the motion is divided by the distance travelled (`motion_per_distance`), which needs the
  speed recorded in every recording;
- a **turn rate** (a differential drive's yaw command: Duckietown) must grow with the speed on the same
  curve, so only the time between frames is taken out (`motion_per_second`);
- otherwise (no speed for a wheel angle, a steering whose kind is unknown, recordings of both kinds) the
  motion stays as read, as before this default.

The choice is made once, when a run starts, and written into its config (run.json, the checkpoints) as
`motion_per_distance` or `motion_per_second` true, so evaluation, export and driving see the model it is.
A resumed run, or one that starts from another run's weights (`--init`), keeps the choice its checkpoint
holds. Either option set by the user, true or false, is kept: false rules that one out of the default.
Measured in BENCHMARKS.md ("Motion per distance", "Motion per second", "Motion measured by default").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from timesteer.data.distance import SPEED
from timesteer.data.drives import resolve_drives
from timesteer.data.recording import Recording
from timesteer.models import model_config
from timesteer.models.zoo import MotionPerDistance
from timesteer.train.checkpoint import checkpoint_field, load_checkpoint
from timesteer.train.config import TrainConfig

PER_DISTANCE = "motion_per_distance"
PER_SECOND = "motion_per_second"


@dataclass(frozen=True)
class MotionChoice:
    """What the default settled: the option turned on (None: neither) and why, for the run's first line."""

    option: str | None
    reason: str

    def describe(self) -> str:
        if self.option is None:
            return f"motion as read between frames ({self.reason})"
        per = self.option.removeprefix("motion_per_")
        return (f"motion per {per} ({self.reason}); --model-config '{{\"{self.option}\": false}}' turns it off")


def sees_motion(config: object) -> bool:
    """Whether a model with this config reads motion between frames (what the options scale)."""
    if not isinstance(config, MotionPerDistance):
        return False
    if hasattr(config, "motion_frames"):  # the recurrent models: motion only when they see it
        return config.motion_frames > 1 or getattr(config, "shift_bands", 0) > 0
    return True  # diffnet: always frame differences


def choose_from_recordings(recs: list[Recording], allow_distance: bool = True,
                           allow_second: bool = True) -> MotionChoice:
    """The option that the recordings' steering asks for (see the module's docstring)."""
    kinds = {r.manifest.steering_kind for r in recs}
    if kinds == {"turn_rate"}:
        if allow_second:
            return MotionChoice(PER_SECOND, "the steering is a turn rate")
        return MotionChoice(None, "the steering is a turn rate and motion_per_second is false")
    if kinds != {"wheel_angle"}:
        said = "recordings of both kinds" if kinds == {"wheel_angle", "turn_rate"} else \
            "a recording does not say what its steering sets"
        return MotionChoice(None, said)
    if not allow_distance:
        return MotionChoice(None, "the steering is a wheel angle and motion_per_distance is false")
    for rec in recs:
        if not rec.has_signal(SPEED):
            return MotionChoice(None, f"the steering is a wheel angle but {rec.path} has no speed")
        speed = np.asarray(rec.signals[SPEED], dtype=np.float64)
        if not (np.all(np.isfinite(speed)) and np.all(speed >= 0) and np.any(speed > 0)):
            return MotionChoice(None, f"the steering is a wheel angle but {rec.path}'s speed is not a usable "
                                      "speed (negative, not finite, or zero throughout)")
    return MotionChoice(PER_DISTANCE, "the steering is a wheel angle and the speed is recorded")


def _from_checkpoint(path: Path) -> MotionChoice:
    spec = checkpoint_field(load_checkpoint(path), "model", dict, path)
    config = checkpoint_field(spec, "config", dict, path)
    for option in (PER_DISTANCE, PER_SECOND):
        if config.get(option):
            return MotionChoice(option, f"as {path} was trained")
    return MotionChoice(None, f"as {path} was trained")


def default_motion(cfg: TrainConfig, resume: bool = False) -> tuple[TrainConfig, MotionChoice | None]:
    """`cfg` with the default motion option settled (turned on in `cfg.model_config` when chosen), and the
    choice; (cfg, None) when there is nothing to settle (a model without motion, or both options set)."""
    parsed = model_config(cfg.model, cfg.model_config)
    if not sees_motion(parsed):
        return cfg, None
    assert isinstance(parsed, MotionPerDistance)
    if parsed.motion_per_distance is not None and parsed.motion_per_second is not None:
        return cfg, None
    if parsed.motion_per_distance or parsed.motion_per_second:  # one turned on: the other is off
        return cfg, None
    last = Path(cfg.out) / "last.pt"
    if resume and last.is_file():
        choice = _from_checkpoint(last)
    elif cfg.init:
        choice = _from_checkpoint(Path(cfg.init) / "best.pt")
    else:
        names = cfg.data_list + (cfg.val_list if cfg.val is not None else [])
        recs = [Recording.open(e.path) for e in resolve_drives(names)]
        choice = choose_from_recordings(recs, parsed.motion_per_distance is not False,
                                        parsed.motion_per_second is not False)
    if choice.option is None:
        return cfg, choice
    return replace(cfg, model_config={**cfg.model_config, choice.option: True}), choice
