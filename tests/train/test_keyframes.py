"""Keyframe weighting (issue 29): the frames where the steering changes weigh more in the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import make_recording
from timesteer.train import TrainConfig, train
from timesteer.train.keyframes import keyframe_weights
from timesteer.train.loop import loss_terms


def test_weights_follow_the_change_and_average_one_on_training_frames():
    steer = np.array([0, 0, 0.5, 0.5, 0.5, 1.0, 0.9, 0.9, 0, 0], dtype=np.float64)
    spans = [(0, 4), (4, 8)]  # frames 8-9: validation
    w = keyframe_weights(steer, spans, strength=2.0)
    assert w[:8].mean() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(w[8:], 1.0)
    assert w[2] > w[1] and w[5] > w[6] > w[7]  # a jump of 0.5 > a change of 0.1 > none
    assert w[4] == w[0] == w[1]  # a span's first frame has no previous label: no change counted
    np.testing.assert_array_equal(keyframe_weights(steer, spans, 0.0), 1.0)
    flat = keyframe_weights(np.zeros(10), spans, 3.0)
    np.testing.assert_array_equal(flat, 1.0)


def test_weights_scale_the_steering_loss_not_the_reported_error():
    out = torch.tensor([[[1.0], [0.0]]])
    target = torch.zeros(1, 2, 1)
    loss, mse = loss_terms(out, target, 0.0, torch.tensor([[2.0, 0.0]]))
    assert loss.item() == pytest.approx(1.0) and mse.item() == pytest.approx(0.5)
    loss1, _ = loss_terms(out, target, 0.0, torch.ones(1, 2))
    assert loss1.item() == pytest.approx(mse.item())


def test_training_with_keyframe_weights_learns_otherwise(tmp_path):
    rec = make_recording(tmp_path / "rec", n=200)
    base = dict(data=str(rec), model="cnn_gru", epochs=2, batch_frames=32, threads=1, progress=False,
                tensorboard=False)
    plain = train(TrainConfig(out=str(tmp_path / "a"), **base))
    weighted = train(TrainConfig(out=str(tmp_path / "b"), keyframe_weight=4.0, **base))
    assert np.isfinite(weighted.best_val_rmse)
    assert weighted.best_val_rmse != plain.best_val_rmse
