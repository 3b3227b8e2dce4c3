"""Live steering: one camera frame in, one angle out, state carried.

    steerer = Steerer.from_run("RUN")
    steerer.reset()                      # a new drive
    angle = steerer.step(frame)          # raw camera frame (H, W, 3) uint8, native size

`step` applies the training crop, resize and normalisation, runs the encoder once on the new frame
and the temporal head once with the carried state. Its cost per frame does not grow with how long
the car has been driving (donkeycar, by contrast, re-runs its whole window every frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from timesteer.data.imaging import FrameShaper
from timesteer.errors import InputError
from timesteer.models import State, SteeringModel
from timesteer.train.run import RunInfo, Which, load_run


@dataclass(frozen=True)
class Preprocessing:
    """How a native camera frame becomes a model input (recorded at import, used live)."""

    source_height: int
    source_width: int
    crop_top: int
    crop_bottom: int
    height: int
    width: int

    @classmethod
    def from_run_info(cls, info: RunInfo) -> Preprocessing:
        f = info.data.frame
        return cls(f.source_height or f.height, f.source_width or f.width, f.crop_top, f.crop_bottom, f.height,
                   f.width)

    def shaper(self) -> FrameShaper:
        cropped = self.source_height - self.crop_top - self.crop_bottom
        resize = (self.height, self.width) != (cropped, self.source_width)
        return FrameShaper(self.source_height, self.source_width, self.crop_top, self.crop_bottom,
                           self.height if resize else None, self.width if resize else None)

    def describe(self) -> str:
        cropped = self.source_height - self.crop_top - self.crop_bottom
        resize = (f"resize to {self.height}x{self.width} (Pillow bilinear, antialiased)"
                  if (self.height, self.width) != (cropped, self.source_width) else "no resize")
        return (f"RGB uint8 {self.source_height}x{self.source_width} (HxW); crop {self.crop_top} rows from the top "
                f"and {self.crop_bottom} from the bottom; {resize}")


class Steerer:
    def __init__(self, model: SteeringModel, preprocessing: Preprocessing, unit: str = "rad",
                 gap_reset_s: float | None = None) -> None:
        self.model = model.eval()
        self.pre = preprocessing
        self.shaper = preprocessing.shaper()
        self.unit = unit
        self.gap_reset_s = gap_reset_s  # a pause longer than this between frames starts a new drive
        self.device = model.target_mean.device
        self.state: State | None = None
        self.frames_seen = 0
        self._last_t: float | None = None

    @classmethod
    def from_run(cls, run_dir: str | Path, checkpoint: Which = "best", device: str = "cpu") -> Steerer:
        run = load_run(run_dir, checkpoint, device)
        gap = None
        fps = run.data.fps
        if fps > 0:
            gap = max(0.5, 5.0 / fps)  # the import's default segment-gap rule
        return cls(run.model, Preprocessing.from_run_info(run.info), run.steering_unit, gap)

    def reset(self) -> None:
        self.state = None
        self.frames_seen = 0
        self._last_t = None

    def shape(self, frame: np.ndarray) -> np.ndarray:
        """Native camera frame (H, W, 3) uint8 -> working frame, exactly as the importer made them."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(None, f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
        return self.shaper.shape_array(frame)

    @torch.inference_mode()
    def step_shaped(self, frame: np.ndarray, timestamp_s: float | None = None) -> float:
        """One already-shaped frame (height, width, 3) uint8 -> steering in the recording's unit."""
        if timestamp_s is not None:
            if self._last_t is not None and self.gap_reset_s and timestamp_s - self._last_t > self.gap_reset_s:
                self.reset()
            self._last_t = timestamp_s
        x = torch.from_numpy(np.require(frame, requirements=["C", "W"])).to(self.device)
        x = x.permute(2, 0, 1)[None, None]  # (1, 1, C, H, W), channels-last in memory
        steering, self.state = self.model(x, self.state)
        self.frames_seen += 1
        return float(steering[0, 0])

    def step(self, frame: np.ndarray, timestamp_s: float | None = None) -> float:
        """One native camera frame -> steering in the recording's unit, state carried."""
        return self.step_shaped(self.shape(frame), timestamp_s)
