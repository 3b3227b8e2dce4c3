"""Keyframe weighting: the frames where the steering changes count more in the loss (issue 29).

A model that sees the past can copy it: steer now as the wheels just did, which the motion in its frames
shows. That copycat is right almost everywhere (the steering changes slowly) and wrong exactly where
driving matters, where the steering changes. Wen et al. ("Keyframe-Focused Visual Imitation Learning",
ICML 2021) weight each frame's loss by how badly a predictor from the past actions does there; the
simplest such predictor is the previous label, the copycat floor of `evaluate/metrics.py`. Here a frame's
weight is `1 + strength * |a_t - a_{t-1}| / mean |a_t - a_{t-1}|` over the training frames, scaled so the
training frames average 1 (the loss keeps its size, the learning rate its meaning). A span's first frame
has no previous label and weight 1 before scaling.
"""

from __future__ import annotations

import numpy as np

from timesteer.data.splits import Span


def keyframe_weights(steering: np.ndarray, spans: list[Span], strength: float) -> np.ndarray:
    """(N,) float32 loss weights over the bank; 1 outside `spans` (validation frames, never weighted)."""
    weights = np.ones(len(steering), dtype=np.float64)
    if strength <= 0 or not spans:
        return weights.astype(np.float32)
    change = np.zeros(len(steering))
    inside = np.zeros(len(steering), dtype=bool)
    for a, b in spans:
        change[a + 1:b] = np.abs(np.diff(steering[a:b]))
        inside[a:b] = True
    typical = change[inside].mean()
    if typical > 0:
        weights[inside] = 1.0 + strength * change[inside] / typical
        weights[inside] /= weights[inside].mean()
    return weights.astype(np.float32)
