"""Training: time-block splits, truncated BPTT with carried state, checkpoints, resume, torchrun.

Names are loaded on first use, so that reading `TrainConfig` (the command line's help) does not load
PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "TrainConfig": "timesteer.train.config",
    "TrainResult": "timesteer.train.loop",
    "load_run_config": "timesteer.train.loop",
    "train": "timesteer.train.loop",
    "load_checkpoint": "timesteer.train.checkpoint",
    "model_from_payload": "timesteer.train.checkpoint",
    "save_checkpoint": "timesteer.train.checkpoint",
    "predict_spans": "timesteer.train.predict",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'timesteer.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
