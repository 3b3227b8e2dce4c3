"""A texture sliding sideways, and a model that steers by the slide it reads alone: the fixtures of the
tests of motion measured per distance and per second."""

from __future__ import annotations

import numpy as np

from timesteer.models import SteeringModel
from timesteer.models.base import TemporalHead
from timesteer.models.encoders import Identity
from timesteer.models.heads import MotionHead

SHAPE = (3, 30, 40)
BANDS = 3


class SlideOut(TemporalHead):
    """Says the mean slide it is given (pixels, after any scaling): a model that steers by motion alone."""

    def forward(self, features, state, extra=None):
        dim = features.shape[-1]
        return features[..., dim - 2 * BANDS : dim - BANDS].mean(dim=-1, keepdim=True), state


def slide_model(distance_ref: float | None, per_second: bool = False) -> SteeringModel:
    """The slide reader, its motion scaled against `distance_ref` (None: not scaled at all); with
    `per_second` that reference is a frame period."""
    head = MotionHead(SHAPE, 2, 4, 0.0, lambda dim, extra: SlideOut(), shift_bands=BANDS, max_shift_px=4)
    model = SteeringModel(Identity(), head, name="slide", config={}, in_shape=SHAPE,
                          distance_input=distance_ref is not None, distance_per_second=per_second)
    model.set_normalization([0.0] * 3, [1.0] * 3, [0.0], [1.0], distance_ref=distance_ref)
    return model.eval()


def sliding(n: int, px_per_frame: int = 1) -> np.ndarray:
    """(n, H, W, 3) a random texture sliding sideways by `px_per_frame` each frame."""
    texture = np.random.default_rng(0).integers(0, 256, (SHAPE[1], SHAPE[2] + 4 * n, 3), dtype=np.uint8)
    return np.stack([texture[:, i * px_per_frame : i * px_per_frame + SHAPE[2]] for i in range(n)])
