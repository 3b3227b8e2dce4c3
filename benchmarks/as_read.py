"""The motion kept as read, and no time warp: how the benchmarks' older variants stay what they were.

Since 2026-12-06 a model that reads motion measures it per distance or per second by default, chosen from
what the recording's steering sets (train/motion_default.py). A benchmark variant measured before that,
or one that does not ask for either option, turns both off explicitly, so every row of BENCHMARKS.md
still means what it meant; a variant that turns one on keeps it.

Later that day `cnn_gru` began to train with time warp by default (train/warp_default.py): the variants
that do not set `time_warp` were measured without it and say 0 (`without_warp`).
"""

from __future__ import annotations

from timesteer.models import model_config
from timesteer.train.motion_default import sees_motion
from timesteer.train.warp_default import default_time_warp

AS_READ = {"motion_per_distance": False, "motion_per_second": False}


def as_read(model: str, config: dict) -> dict:
    """`config` with both options off unless it sets them, for a model the default applies to (the one rule,
    `sees_motion`: the models that read motion between frames); other configs unchanged."""
    return {**AS_READ, **config} if sees_motion(model_config(model, config)) else config


def without_warp(model: str, augment: dict) -> dict:
    """`augment` with `time_warp` 0 unless it sets it, for a model whose default turns time warp on."""
    return {"time_warp": 0.0, **augment} if default_time_warp(model) > 0 else augment
