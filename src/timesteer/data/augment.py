"""Augmentation that stays consistent over a sequence.

Parameters are drawn once per lane when it starts a new sequence and kept while the lane's state is
carried, so a recurrent model never sees a drive flip or change camera mid-way. Applied in PyTorch on
(B, T, C, H, W) float frames in [0, 255]:

* brightness and contrast, per lane;
* a random shadow: one side of a slanted line across the image darkened;
* horizontal flip, which negates steering;
* horizontal shift by a few pixels, with a steering correction proportional to the shift;
* a side camera (left / right), with a steering offset, where the recording has them;
* pushes: the car turned and moved in the picture as a push would, the label correcting it
  (data/push.py; recordings that know their camera's view and speed).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated

import numpy as np

from timesteer.config import Fraction, Range, validate

if TYPE_CHECKING:
    from torch import Tensor


# Pushes a second when `push_rate_hz` is left to its default (one every 2 s on average). Why it is on for
# the models that use time: without pushes they learn from clean driving to steer with a push (0% under
# `hard` in CarRacing); with them they drive ahead of `pilotnet` from clean driving in both simulators,
# and better from disturbed driving and in DAgger (BENCHMARKS.md, "Pushes made in the picture" and after).
DEFAULT_PUSH_RATE_HZ = 0.5


@dataclass
class AugmentConfig:
    flip: Annotated[float, Fraction] = 0.5  # probability of a mirrored sequence (steering negated)
    brightness: Annotated[float, Range(0, 1, open_max=True)] = 0.25  # brightness factor drawn from 1 +- this
    contrast: Annotated[float, Range(0, 1, open_max=True)] = 0.2  # contrast factor drawn from 1 +- this
    shadow: Annotated[float, Fraction] = 0.3  # probability of a random shadow
    shift_px: Annotated[int, Range(0, 8192)] = 0  # largest horizontal shift in pixels (0: off)
    # Steering added per pixel of shift (recording units).
    shift_steer_per_px: Annotated[float, Range(-1000, 1000)] = 0.004
    side_camera: Annotated[float, Fraction] = 0.5  # probability of using a side camera when the recording has them
    # Share of each drive replayed at 2x or 0.5x its speed (data/timewarp.py), for models that use time:
    # the size of the motion between frames must not be the answer. None: the model's default, 1 for
    # `cnn_gru` on clean driving and off for the others and where every recording was driven under
    # disturbances (train/warp_default.py, as measured) - train() writes down which.
    time_warp: Annotated[float | None, Fraction] = None
    # Pushes made in the picture (data/push.py): how often one starts per second (0: off; None: the
    # default, DEFAULT_PUSH_RATE_HZ for models that use time on recordings that know their camera's view
    # and speed, off otherwise - train() writes down which), its largest steering offset as a fraction of
    # the car's full lock (0.5: 0.2 rad in CarRacing, a yaw command of 1.5 in Duckietown; `hard`'s pushes
    # reach 0.6), the longest the driver in the picture takes to react, and how long it takes to bring the
    # car back.
    push_rate_hz: Annotated[float | None, Range(0, 100)] = None
    push_lock: Annotated[float, Range(0, 1, open_min=True)] = 0.5
    push_react_s: Annotated[float, Range(0, 10)] = 0.2
    push_recover_s: Annotated[float, Range(0, 100, open_min=True)] = 0.5

    def __post_init__(self) -> None:
        validate(self, "augment")


@dataclass
class LaneParams:
    """Per-lane parameters, arrays of shape (lanes,)."""

    flip: np.ndarray
    brightness: np.ndarray
    contrast: np.ndarray
    shadow: np.ndarray  # bool
    shadow_x: np.ndarray  # (lanes, 2) line's x at the top and bottom, as fractions of the width
    shadow_dark: np.ndarray
    shift_px: np.ndarray  # int
    camera: np.ndarray  # 0 primary, 1 left, 2 right

    @classmethod
    def identity(cls, lanes: int) -> LaneParams:
        return cls(np.zeros(lanes, bool), np.ones(lanes), np.ones(lanes), np.zeros(lanes, bool),
                   np.zeros((lanes, 2)), np.ones(lanes), np.zeros(lanes, int), np.zeros(lanes, int))

    def select(self, lanes: slice) -> LaneParams:
        return LaneParams(*(getattr(self, f.name)[lanes] for f in fields(self)))

    def redraw(self, mask: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator, side_cameras: bool) -> None:
        """Draw new parameters for the lanes in `mask` (those starting a new sequence)."""
        n = int(mask.sum())
        if n == 0:
            return
        self.flip[mask] = rng.random(n) < cfg.flip
        self.brightness[mask] = 1 + rng.uniform(-cfg.brightness, cfg.brightness, n)
        self.contrast[mask] = 1 + rng.uniform(-cfg.contrast, cfg.contrast, n)
        self.shadow[mask] = rng.random(n) < cfg.shadow
        self.shadow_x[mask] = rng.uniform(0, 1, (n, 2))
        self.shadow_dark[mask] = rng.uniform(0.5, 0.85, n)
        self.shift_px[mask] = rng.integers(-cfg.shift_px, cfg.shift_px + 1, n) if cfg.shift_px else 0
        if side_cameras:
            side = rng.random(n) < cfg.side_camera
            self.camera[mask] = np.where(side, rng.integers(1, 3, n), 0)


def steering_correction(params: LaneParams, cfg: AugmentConfig, side_offset: float) -> np.ndarray:
    """Steering to add per lane for its camera and shift, before any flip. A left camera sees the car
    as if it sat left of where it is, so the correction steers right (positive), and vice versa; content
    shifted right likewise looks like a car left of its line."""
    camera = np.select([params.camera == 1, params.camera == 2], [side_offset, -side_offset], 0.0)
    return camera + params.shift_px * cfg.shift_steer_per_px


def apply(frames: Tensor, steering: Tensor, params: LaneParams, cfg: AugmentConfig,
          side_offset: float = 0.0) -> tuple[Tensor, Tensor]:
    """Augment (B, T, C, H, W) frames in [0, 255] and (B, T) steering (or (B, T, S): several steering
    columns, each moved alike) in place-safe fashion."""
    import torch  # here, so that reading an AugmentConfig (the command line's help) does not load PyTorch

    b, t, c, h, w = frames.shape
    dev = frames.device
    x = frames
    if params.shift_px.any():
        cols = torch.arange(w, device=dev).view(1, w) - torch.as_tensor(params.shift_px, device=dev).view(b, 1)
        index = cols.clamp(0, w - 1).view(b, 1, 1, 1, w).expand(b, t, c, h, w)
        x = torch.gather(x, 4, index)  # content moves right by shift_px, edges replicated
    if params.shadow.any():
        rows = torch.linspace(0, 1, h, device=dev).view(1, h, 1)
        sx = torch.as_tensor(params.shadow_x, device=dev, dtype=x.dtype)
        line = (sx[:, :1, None] + (sx[:, 1:, None] - sx[:, :1, None]) * rows) * w  # (B, H, 1)
        left = torch.arange(w, device=dev).view(1, 1, w) < line  # (B, H, W)
        dark = torch.as_tensor(np.where(params.shadow, params.shadow_dark, 1.0), device=dev, dtype=x.dtype)
        x = x * torch.where(left, dark.view(b, 1, 1), torch.ones((), device=dev)).view(b, 1, 1, h, w)
    gain = torch.as_tensor(params.brightness * params.contrast, device=dev, dtype=x.dtype).view(b, 1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3, 4), keepdim=True)
    offset = (torch.as_tensor(params.brightness, device=dev, dtype=x.dtype).view(b, 1, 1, 1, 1) - gain) * mean
    x = (x * gain + offset).clamp(0, 255)  # contrast about the lane mean, then brightness
    lane = (b, *([1] * (steering.dim() - 1)))  # one value per lane, over time (and columns)
    steer = steering + torch.as_tensor(steering_correction(params, cfg, side_offset), device=dev,
                                       dtype=steering.dtype).view(lane)
    flip = torch.as_tensor(params.flip, device=dev)
    if params.flip.any():
        x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(-1), x)
        steer = torch.where(flip.view(lane), -steer, steer)
    return x, steer
