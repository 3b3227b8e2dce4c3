"""The shortcut test tells a model that steers by its own motion from one that steers by the picture:
checked on hand-made models whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from timesteer.evaluate.shortcut import shortcut_test
from timesteer.models import SteeringModel, create_model
from timesteer.models.base import TemporalHead
from timesteer.models.encoders import Identity
from timesteer.models.heads import with_history

SHAPE = (3, 12, 16)


class MotionHead(TemporalHead):
    """Steers by how much brighter the picture got since the last frame: pure motion, no picture."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def initial_state(self, batch, device, dtype):
        return (torch.zeros(batch, 1, *SHAPE, device=device, dtype=dtype),
                torch.zeros(batch, device=device, dtype=dtype))

    def forward(self, features, state):
        t = features.shape[1]
        seq, buffer = with_history(features, state[0], state[1])  # (B, 1 + T, C, H, W)
        change = seq[:, 1:].mean(dim=(2, 3, 4)) - seq[:, :t].mean(dim=(2, 3, 4))
        return self.weight * change.unsqueeze(-1), (buffer, torch.ones_like(state[1]))


def _ramp(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A drive whose picture brightens by 1 level a frame, labelled with what the motion model answers."""
    levels = (20 + np.arange(n)).astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (n, SHAPE[1], SHAPE[2], 3)).copy()
    return frames, np.full(n, 1.0 / 255.0)


def test_a_model_that_steers_by_its_motion_doubles_at_2x_and_goes_blind_when_frozen():
    model = SteeringModel(Identity(), MotionHead(), name="motion", config={}, in_shape=SHAPE)
    model.set_normalization([0.0] * 3, [255.0] * 3, [0.0], [1.0])
    frames, steering = _ramp()
    s = shortcut_test(model.eval(), frames, [(0, 60), (60, 120)], steering)
    assert s["2x"]["gain"] == pytest.approx(2.0, rel=0.05)
    assert s["frozen"]["gain"] == pytest.approx(0.0, abs=0.05)
    assert s["0.5x"]["gain"] == pytest.approx(0.5, abs=0.1)  # half its steps carry no motion
    assert s["rmse"] < 0.2 * s["frozen"]["rmse"] and s["rmse"] < 0.2 * s["2x"]["rmse"]  # (a span's first frame: 0)
    assert s["frames"] == 120 and s["2x"]["frames"] == 60 and s["0.5x"]["frames"] == 240


def test_a_single_frame_model_is_the_same_in_every_replay():
    torch.manual_seed(0)
    model = create_model("pilotnet", in_shape=SHAPE).eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (50, SHAPE[1], SHAPE[2], 3), dtype=np.uint8)
    s = shortcut_test(model, frames, [(0, 50)], rng.normal(0, 0.1, 50))
    for name in ("2x", "0.5x", "frozen"):
        assert s[name]["gain"] == pytest.approx(1.0, abs=1e-3), name
    assert s["frozen"]["rmse"] == pytest.approx(s["frozen"]["rmse_normal_same_frames"], rel=1e-4)
