"""The training configuration: one dataclass, defaults in code, checked when loaded from a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from timesteer.data.augment import AugmentConfig
from timesteer.data.splits import SplitMode


@dataclass
class TrainConfig:
    data: str  # recording to train on
    out: str  # run directory (checkpoints, metrics.csv, TensorBoard logs)
    model: str = "cnn_gru"
    model_config: dict[str, Any] = field(default_factory=dict)  # the model's own options (see `timesteer models`)
    val: str | None = None  # a separate validation recording; else a time split of `data`
    val_fraction: float = 0.2
    val_split: SplitMode = "end"  # "end": last fraction of the drive; "blocks": last fraction of each block
    val_blocks: int = 5
    epochs: int = 30
    batch_frames: int = 256  # frames per optimisation step (lanes x seq_len)
    seq_len: int | None = None  # frames per chunk = truncated-BPTT length; default 16 for models with state, else 1
    stateful: bool | None = None  # carry state between batches; default on for recurrent models
    burn_in: int = 0  # stateless windows: extra frames at the start without loss, to warm the state up
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0  # linear learning-rate warm-up, then cosine decay
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0  # gradient-norm clipping
    patience: int = 10  # early stopping: epochs without a better validation RMSE
    aux_weight: float = 0.2  # weight of auxiliary targets (speed) in the loss
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    camera: str | None = None  # primary camera (default: the recording's first)
    side_offset: float | None = None  # steering offset of side cameras; default 5 degrees in the recording's unit
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = True  # mixed precision on CUDA
    seed: int = 0
    threads: int = 0  # torch compute threads (0: torch's default)
    max_steps_per_epoch: int | None = None
    progress: bool = True
    tensorboard: bool = True
