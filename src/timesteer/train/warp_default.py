"""The default share of time warp (`augment.time_warp` None), settled per model when a run starts.

Time warp (data/timewarp.py) replays stretches of each drive at twice or half its speed, so that the
size of the motion between frames cannot be the answer. Whether it belongs in a model's defaults was
measured per model (BENCHMARKS.md, "Time warp on top of the defaults"; 3 seeds, CarRacing `hard`, 20
held-out tracks, on top of the other defaults: pushes and motion per distance):

- `cnn_gru`, trained on clean driving: +12.3 points of autonomy (paired 95% interval +5.0 to +20.4) and
  +10.0 (+1.6 to +18.6) on two recordings, every seed. On driving recorded under disturbances it costs
  (-2.0 a seed over six; -4.5, -8.0 to -1.2, on three of them), and open loop at the recorded speed
  (Udacity, motion per distance: RMSE 0.0412 -> 0.0566, still below `pilotnet`). The drives users record
  are clean, so it is `cnn_gru`'s default there (and off on disturbed recordings, below). Through
  Duckietown's dashcam, from clean driving: +11.2 (+4.7 to +18.2), from behind `pilotnet` (-11.8) to level.
- `diffnet`: -3.4 (-8.8 to +2.0) from clean driving, and `cnn_lstm` -2.7 (-10.4 to +3.8) ("Time warp,
  `cnn_gru`'s default"): not their default.
- `rnn`, `conv3d_lstm`: not measured closed loop with the defaults; off until they are.
- single-frame models: nothing to warp (one frame has no motion).

Where every training recording says it was driven under steering disturbances (a simulator recording
made with `--conditions noisy` or `hard`, and DAgger's drives, whose manifests hold the conditions), the
default is off for every model: there time warp costs `cnn_gru` -3.7 points after DAgger (-6.3 to
-1.2, every seed worse; "Time warp in DAgger") and in behaviour cloning -2.0 a seed on one recording
and -13.5 (-18.0 to -9.0, every seed) on a second. A recording that does not say (every real-car
import) counts as clean, and a mix of clean and disturbed recordings keeps the default (not measured:
the clean part is what the default serves). Only the recordings a run trains on count, not one it only
validates on.

The number settled is written into the run's config (run.json, the checkpoints), so a run says what it
trained with and `--resume` goes on with it. A value the user sets, 0 included, is kept; a resumed run
whose config still says None keeps what its checkpoint trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from timesteer.data.recording import Recording
from timesteer.train.checkpoint import checkpoint_field, load_checkpoint
from timesteer.train.config import TrainConfig

# The measured defaults, by registered model name; every other model: 0 (off).
DEFAULT_TIME_WARP = {"cnn_gru": 1.0}


def default_time_warp(model: str) -> float:
    """The share of each drive time warp replays at another speed, by default, for `model`."""
    return DEFAULT_TIME_WARP.get(model, 0.0)


def _from_checkpoint(path: Path) -> float:
    train_config = checkpoint_field(load_checkpoint(path), "train_config", dict, path)
    augment = train_config.get("augment") or {}
    warp = augment.get("time_warp", 0.0) if isinstance(augment, dict) else 0.0
    return float(warp) if isinstance(warp, int | float) else 0.0


def with_time_warp_settled(saved: TrainConfig) -> TrainConfig:
    """A checkpoint's training config with None read as what it trained with: training always writes the
    number down, so None means a checkpoint older than the option, which trained without time warp."""
    if saved.augment.time_warp is not None:
        return saved
    return replace(saved, augment=replace(saved.augment, time_warp=0.0))


def driven_disturbed(rec: Recording) -> bool:
    """Whether `rec` says it was driven under steering disturbances (a simulator recording's conditions)."""
    return rec.manifest.source.condition("noise") > 0


def with_default_time_warp(cfg: TrainConfig, resume: bool = False,
                           recordings: Sequence[Recording] = ()) -> tuple[TrainConfig, str | None]:
    """`cfg` with `augment.time_warp` made a number, and what the default chose (a line for the run's first
    lines; None where the user set it, the model has no default, or the run resumes). A resumed run
    (`resume` and a `last.pt` in `cfg.out`) keeps its checkpoint's; off where every training recording
    in `recordings` was driven under disturbances."""
    if cfg.augment.time_warp is not None:
        return cfg, None
    last = Path(cfg.out) / "last.pt"
    said: str | None = None
    if resume and last.is_file():
        warp = _from_checkpoint(last)
    else:
        warp = default_time_warp(cfg.model)
        if warp > 0 and recordings and all(driven_disturbed(r) for r in recordings):
            warp = 0.0
            said = (f"no time warp, since every recording was driven under steering disturbances (the default "
                    f"for {cfg.model} on clean driving only); --augment '{{\"time_warp\": 1}}' turns it on")
        elif warp > 0:
            said = (f"time warp on {warp:.0%} of each drive (stretches replayed at 2x and 0.5x), the default for "
                    f"{cfg.model}; --augment '{{\"time_warp\": 0}}' turns it off")
    return replace(cfg, augment=replace(cfg.augment, time_warp=warp)), said
