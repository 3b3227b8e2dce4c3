"""The training configuration: one dataclass, defaults in code, checked however it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from timesteer.config import (
    AtLeastOne,
    Epochs,
    Frames,
    Multiplier,
    Positive,
    Range,
    Seed,
    Steps,
    Threads,
    from_dict,
    validate,
)
from timesteer.data.augment import AugmentConfig
from timesteer.data.splits import SplitMode


@dataclass
class TrainConfig:
    # Recordings to train on: recording directories, directories holding recordings, or dataset files
    # (.json / .toml listing recordings with optional weights and validation fractions).
    data: str | list[str]
    out: str  # run directory (checkpoints, metrics.csv, TensorBoard logs)
    model: str = "cnn_gru"
    model_config: dict[str, Any] = field(default_factory=dict)  # the model's own options (see `timesteer models`)
    val: str | list[str] | None = None  # separate validation recordings; else a time split of each of `data`
    init: str | None = None  # warm start: begin from this run's best weights and keep its normalisation
    val_fraction: Annotated[float, Range(0, 1, open_max=True)] = 0.2
    val_split: SplitMode = "end"  # "end": last fraction of the drive; "blocks": last fraction of each block
    val_blocks: Annotated[int, AtLeastOne] = 5
    epochs: Annotated[int, Epochs] = 30
    # Frames per optimisation step (lanes x seq_len); 65,536 frames of 66x200 are 10 GiB as float32.
    batch_frames: Annotated[int, Range(1, 65_536)] = 256
    # Frames per chunk = truncated-BPTT length; default 16 for models with state, else 1.
    seq_len: Annotated[int | None, Frames] = None
    stateful: bool | None = None  # carry state between batches; default on for recurrent models
    burn_in: Annotated[int, Range(0, 100_000)] = 0  # stateless windows: extra frames at the start without loss
    lr: Annotated[float, Range(0, 10, open_min=True)] = 1e-3  # past 10 every optimiser here diverges
    weight_decay: Annotated[float, Range(0, 10)] = 1e-4
    warmup_epochs: Annotated[float, Range(0, 100_000)] = 1.0  # linear learning-rate warm-up, then cosine decay
    min_lr_ratio: Annotated[float, Range(0, 1)] = 0.05
    grad_clip: Annotated[float, Positive] = 5.0  # gradient-norm clipping
    patience: Annotated[int, Range(0, 100_000)] = 10  # early stopping: epochs without a better validation RMSE (0: off)
    aux_weight: Annotated[float, Multiplier] = 0.2  # weight of auxiliary targets (speed) in the loss
    # Keyframe weighting (train/keyframes.py): frames where the steering changes count more in the loss,
    # 1 + strength x (change / its mean); 0: every frame alike. Tried against the copycat (issue 29).
    keyframe_weight: Annotated[float, Range(0, 100)] = 0.0
    # Learn to steer for this far ahead: the label of each frame is the one recorded this long after it
    # (within its segment), so that a car whose commands act that late (camera, compute and actuator
    # delay) gets them in time. 0: the frame's own label.
    label_lead_s: Annotated[float, Range(0, 10)] = 0.0
    # Lead heads (train/lead_heads.py): one more output per lead, the steering for a car whose commands act
    # that many seconds after the picture; a drive picks the one for its latency. None: the default, one at
    # 0.1 s for diffnet and cnn_gru unless every recording was made under that latency, none for the other
    # models; a resumed or --init run keeps its checkpoint's.
    lead_heads_s: Annotated[tuple[float, ...] | None, Range(0.01, 10)] = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    camera: str | None = None  # primary camera (default: the recording's first)
    # Steering offset of side cameras; default 5 degrees in the recording's unit.
    side_offset: Annotated[float | None, Range(-1000, 1000)] = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = True  # mixed precision on CUDA
    seed: Annotated[int, Seed] = 0
    threads: Annotated[int, Threads] = 0  # torch compute threads (0: torch's default)
    max_steps_per_epoch: Annotated[int | None, Steps] = None
    progress: bool = True
    tensorboard: bool = True
    # Measure dL_t/dh_{t-k} on a few batches an epoch (recurrent models): metrics.csv, TensorBoard, report.
    grad_through_time: bool = False

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "train") -> TrainConfig:
        return from_dict(cls, data, where=where)

    @property
    def data_list(self) -> list[str]:
        return [self.data] if isinstance(self.data, str) else list(self.data)

    @property
    def val_list(self) -> list[str]:
        if self.val is None:
            return []
        return [self.val] if isinstance(self.val, str) else list(self.val)
