"""Seeing through time: temporal attribution finds a hand-made model's delay exactly, a single-frame model
has no memory, VisualBackProp finds where the picture matters, and `explain` writes what it promises."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import make_recording, run_cli
from timesteer.evaluate.backprop import VisualBackProp
from timesteer.evaluate.through_time import temporal_influence
from timesteer.models import SteeringModel, create_model
from timesteer.models.base import TemporalHead
from timesteer.models.encoders import Identity
from timesteer.models.heads import with_history

SHAPE = (3, 12, 16)


class DelayHead(TemporalHead):
    """Steers by the brightness of the frame seen `delay` frames ago, and nothing else."""

    def __init__(self, delay: int) -> None:
        super().__init__()
        self.delay = delay
        self.weight = nn.Parameter(torch.ones(1))

    def initial_state(self, batch, device, dtype):
        return (torch.zeros(batch, self.delay, *SHAPE, device=device, dtype=dtype),
                torch.zeros(batch, device=device, dtype=dtype))

    def forward(self, features, state):
        t = features.shape[1]
        seq, buffer = with_history(features, state[0], state[1])  # (B, delay + T, C, H, W)
        old = seq[:, :t]  # frame t - delay for each output t
        out = self.weight * old.mean(dim=(2, 3, 4)).unsqueeze(-1)  # (B, T, 1)
        return out, (buffer, torch.ones_like(state[1]))


def delayed(delay: int) -> SteeringModel:
    model = SteeringModel(Identity(), DelayHead(delay), name="delay", config={}, in_shape=SHAPE)
    model.set_normalization([0.0] * 3, [255.0] * 3, [0.0], [1.0])
    return model.eval()


def drive_frames(n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, SHAPE[1], SHAPE[2], 3), dtype=np.uint8)


def test_a_model_that_steers_by_the_frame_three_back_peaks_at_lag_three():
    frames = drive_frames()
    inf = temporal_influence(delayed(3), frames, [(0, 40), (40, 80)], max_lag=8)
    assert int(np.argmax(inf.previous)) == 3 and int(np.argmax(inf.mean_frame)) == 3
    # Elsewhere only the start of each drive, whose history is its first frame repeated, moves anything.
    others = np.delete(inf.mean_frame, 3)
    assert np.all(others < 0.05 * inf.mean_frame[3]) and inf.mean_frame[3] > 1e-3
    assert inf.horizon_frames() == 3 and inf.positions == 80


def test_a_single_frame_model_has_no_memory():
    torch.manual_seed(0)
    model = create_model("pilotnet", in_shape=SHAPE).eval()
    inf = temporal_influence(model, drive_frames(40), [(0, 40)], max_lag=5)
    assert inf.mean_frame[0] > 1e-4 and np.all(inf.mean_frame[1:] < 1e-3 * inf.mean_frame[0])
    assert inf.horizon_frames() == 0


def test_visualbackprop_finds_the_only_bright_patch():
    """With positive weights every feature comes from the bright square: the mask peaks on it."""
    shape = (3, 66, 200)
    model = create_model("pilotnet", in_shape=shape).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(0.01)
                m.bias.zero_()
    model.set_normalization([0.0] * 3, [1.0] * 3, [0.0], [1.0])
    frame = np.zeros((66, 200, 3), np.uint8)
    frame[20:40, 140:170] = 255
    vbp = VisualBackProp(model)
    mask, _, _ = vbp.step(frame, None)
    vbp.close()
    r, c = np.unravel_index(np.argmax(mask), mask.shape)
    assert 14 <= r <= 46 and 130 <= c <= 180
    assert mask[:, :100].max() < 0.05  # nothing on the dark left half


@pytest.mark.parametrize("name", ["pilotnet", "cnn_gru", "cnn_lstm", "rnn", "diffnet", "conv3d_lstm"])
def test_visualbackprop_runs_on_every_convolutional_encoder(name):
    model = create_model(name, in_shape=(3, 66, 200)).eval()
    vbp = VisualBackProp(model)
    masks, steer = vbp.masks(np.random.default_rng(1).integers(0, 256, (3, 66, 200, 3), dtype=np.uint8))
    vbp.close()
    assert masks.shape == (3, 66, 200) and masks.min() >= 0 and masks.max() == pytest.approx(1.0)
    assert len(steer) == 3


def test_cli_explain_writes_json_figures_and_video(tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=100)
    assert run_cli("train", "--data", rec, "--out", tmp_path / "run", "--model", "cnn_gru", "--epochs", "1",
                   "--batch-frames", "32", "--seq-len", "8", "--grad-through-time", "--quiet",
                   "--no-tensorboard")[0] == 0
    capsys.readouterr()
    code, out, err = run_cli("explain", tmp_path / "run", "--data", rec, "--out", tmp_path / "ex", "--json",
                             "--quiet", capsys=capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["influence_by_lag"][0]["lag_frames"] == 0 and summary["memory_horizon_s"] >= 0
    assert summary["gate"]["kind"] == "update gate z" and 0 < summary["gate"]["mean"] < 1
    assert len(summary["grad_through_time"]) == 8
    for name in summary["figures"].values():
        assert (tmp_path / "ex" / name).stat().st_size > 1000
    assert json.loads((tmp_path / "ex" / "explain.json").read_text())["memory_horizon_frames"] == \
        summary["memory_horizon_frames"]
