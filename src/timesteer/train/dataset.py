"""What training reads: recordings, the train/val split, targets, cameras and normalisation statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from timesteer.data import Recording
from timesteer.data.splits import Span, segment_spans, span_frames, split_by_time
from timesteer.errors import ConfigError, InputError
from timesteer.train.config import TrainConfig


@dataclass
class TrainData:
    train: Recording
    val: Recording
    train_spans: list[Span]
    val_spans: list[Span]
    outputs: tuple[str, ...]
    cameras: list[np.ndarray]  # primary first, then left and right when the recording has them
    val_frames: np.ndarray  # the validation recording's frames from the same camera
    side_offset: float
    targets: np.ndarray  # (N, K) of the training recording, columns in `outputs` order

    @property
    def in_shape(self) -> tuple[int, int, int]:
        g = self.train.manifest.frame
        return (g.channels, g.height, g.width)

    def val_targets(self) -> np.ndarray:
        return np.stack([self.val.signals[name] for name in self.outputs], axis=1)

    def describe(self) -> dict[str, Any]:
        m = self.train.manifest
        return {
            "path": str(self.train.path.absolute()),
            "val_path": str(self.val.path.absolute()),
            "identity": {"created_at": m.created_at, "frames": m.frames},
            "val_identity": {"created_at": self.val.manifest.created_at, "frames": self.val.manifest.frames},
            "frames": m.frames,
            "fps": m.fps,
            "steering": {"unit": m.steering.unit, "to_rad": m.steering.to_rad},
            "frame": {"height": m.frame.height, "width": m.frame.width, "channels": m.frame.channels,
                      "source_height": m.frame.source_height, "source_width": m.frame.source_width,
                      "crop_top": m.frame.crop_top, "crop_bottom": m.frame.crop_bottom},
            "camera": m.cameras[0].name,
            "cameras_used": len(self.cameras),
            "side_offset": self.side_offset,
            "outputs": list(self.outputs),
            "train_spans": [list(s) for s in self.train_spans],
            "val_spans": [list(s) for s in self.val_spans],
            "train_frames": span_frames(self.train_spans),
            "val_frames": span_frames(self.val_spans),
        }


def check_compatible(a: Recording, b: Recording) -> None:
    """A validation (or evaluation) recording must look like the training one to the model."""
    ga, gb = a.manifest.frame, b.manifest.frame
    if (ga.height, ga.width, ga.channels) != (gb.height, gb.width, gb.channels):
        raise InputError(b.path, f"frames are {gb.height}x{gb.width}x{gb.channels} but {a.path} has "
                                 f"{ga.height}x{ga.width}x{ga.channels}; import both at the same --size")
    if a.manifest.steering.unit != b.manifest.steering.unit:
        raise InputError(b.path, f"steering unit {b.manifest.steering.unit!r} differs from {a.path}'s "
                                 f"{a.manifest.steering.unit!r}")


def load_train_data(cfg: TrainConfig, wanted_aux: tuple[str, ...]) -> TrainData:
    rec = Recording.open(cfg.data)
    if cfg.val:
        val = Recording.open(cfg.val)
        check_compatible(rec, val)
        train_spans, val_spans = segment_spans(rec.segments), segment_spans(val.segments)
    else:
        val = rec
        train_spans, val_spans = split_by_time(rec.segments, cfg.val_fraction, cfg.val_split, cfg.val_blocks)
    outputs = ("steering", *[a for a in wanted_aux if rec.has_signal(a) and val.has_signal(a)])
    primary = rec.manifest.camera(cfg.camera)
    cameras = [rec.camera_frames(primary.name)]
    sides = {c.side: c.name for c in rec.manifest.cameras if c.side in ("left", "right")}
    to_rad = rec.manifest.steering.to_rad
    side_offset = cfg.side_offset if cfg.side_offset is not None else (
        math.radians(5.0) / to_rad if to_rad else 0.0)
    if primary.side in (None, "center") and {"left", "right"} <= set(sides) and side_offset and \
            cfg.augment.side_camera > 0:
        cameras += [rec.camera_frames(sides["left"]), rec.camera_frames(sides["right"])]
    targets = np.stack([rec.signals[name] for name in outputs], axis=1)
    val_camera = primary.name if any(c.name == primary.name for c in val.manifest.cameras) else None
    return TrainData(rec, val, train_spans, val_spans, outputs, cameras, val.camera_frames(val_camera), side_offset,
                     targets)


def normalization(data: TrainData, max_frames: int = 2000) -> dict[str, list[float]]:
    """Per-channel input mean/std (0-255 scale) and target mean/std, from the training split only."""
    idx = np.concatenate([np.arange(a, b) for a, b in data.train_spans])
    sample = idx[np.linspace(0, len(idx) - 1, min(max_frames, len(idx))).astype(int)]
    # Sums in chunks of frames: memory stays small whatever the frame size.
    total = np.zeros(data.cameras[0].shape[-1])
    total_sq = np.zeros_like(total)
    for i in range(0, len(sample), 100):
        chunk = data.cameras[0][sample[i : i + 100]].reshape(-1, total.shape[0]).astype(np.float32)
        total += chunk.sum(axis=0, dtype=np.float64)
        total_sq += (chunk**2).sum(axis=0, dtype=np.float64)
    count = len(sample) * int(np.prod(data.cameras[0].shape[1:3]))
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    targets = data.targets[idx]
    if not np.isfinite(targets).all():
        raise ConfigError("training targets hold non-finite values")
    return {
        "input_mean": mean.tolist(),
        "input_std": std.tolist(),
        "target_mean": targets.mean(axis=0).tolist(),
        "target_std": targets.std(axis=0).tolist(),
    }

