"""The motion kept as read: how the benchmarks' older variants stay what they were when measured.

Since 2026-12-06 a model that reads motion measures it per distance or per second by default, chosen from
what the recording's steering sets (train/motion_default.py). A benchmark variant measured before that,
or one that does not ask for either option, turns both off explicitly, so every row of BENCHMARKS.md
still means what it meant; a variant that turns one on keeps it.
"""

from __future__ import annotations

MOTION_MODELS = ("diffnet", "cnn_gru", "cnn_lstm", "rnn")  # the models the default applies to
AS_READ = {"motion_per_distance": False, "motion_per_second": False}


def as_read(model: str, model_config: dict) -> dict:
    """`model_config` with both options off unless it sets them (only for models that read motion)."""
    return {**AS_READ, **model_config} if model in MOTION_MODELS else model_config
