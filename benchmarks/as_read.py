"""The motion kept as read: how the benchmarks' older variants stay what they were when measured.

Since 2026-12-06 a model that reads motion measures it per distance or per second by default, chosen from
what the recording's steering sets (train/motion_default.py). A benchmark variant measured before that,
or one that does not ask for either option, turns both off explicitly, so every row of BENCHMARKS.md
still means what it meant; a variant that turns one on keeps it.
"""

from __future__ import annotations

from timesteer.models import model_config
from timesteer.train.motion_default import sees_motion

AS_READ = {"motion_per_distance": False, "motion_per_second": False}


def as_read(model: str, config: dict) -> dict:
    """`config` with both options off unless it sets them, for a model the default applies to (the one rule,
    `sees_motion`: the models that read motion between frames); other configs unchanged."""
    return {**AS_READ, **config} if sees_motion(model_config(model, config)) else config
