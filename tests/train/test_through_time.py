"""Gradients through time: exact on recurrences whose answer is known, and written by training."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from tests.helpers import make_recording
from timesteer.models import create_model
from timesteer.train import TrainConfig, train
from timesteer.train.through_time import gradient_norms

SHAPE = (3, 24, 32)


def frames_and_targets(t: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, t, *SHAPE), generator=g).float(), torch.randn(3, t, 1, generator=g)


def test_without_recurrent_weights_nothing_reaches_back():
    model = create_model("rnn", in_shape=SHAPE).eval()
    with torch.no_grad():
        model.head.then.rnn.weight_hh_l0.zero_()
    norms = gradient_norms(model, *frames_and_targets())
    assert norms[0] > 0 and np.all(norms[1:] == 0)


def test_a_gru_that_always_keeps_its_state_passes_the_gradient_undiminished():
    model = create_model("cnn_gru", in_shape=SHAPE).eval()
    gru = model.head.then.rnn
    hidden = model.head.then.hidden
    with torch.no_grad():  # update gate z = 1: h_t = h_{t-1}, the Jacobian is the identity
        gru.bias_ih_l0[hidden : 2 * hidden] = 50.0
    norms = gradient_norms(model, *frames_and_targets())
    assert np.all(norms > 0) and 0.3 < norms[-1] / norms[0] < 3


def test_the_plain_rnn_forgets_faster_than_the_gru_at_initialisation():
    torch.manual_seed(0)
    x, y = frames_and_targets(12)
    rnn = gradient_norms(create_model("rnn", in_shape=SHAPE).eval(), x, y)
    torch.manual_seed(0)
    gru = gradient_norms(create_model("cnn_gru", in_shape=SHAPE).eval(), x, y)
    assert rnn[8] / rnn[0] < gru[8] / gru[0]


def test_pilotnet_has_nothing_to_measure():
    with pytest.raises(ValueError, match="no recurrent head"):
        gradient_norms(create_model("pilotnet", in_shape=SHAPE), *frames_and_targets())


def test_training_writes_the_curve_each_epoch(tmp_path):
    rec = make_recording(tmp_path / "rec", n=120, size=(24, 32))
    train(TrainConfig(data=str(rec), out=str(tmp_path / "run"), model="rnn", epochs=2, batch_frames=32, seq_len=8,
                      grad_through_time=True, progress=False, tensorboard=False))
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    curves = [[float(v) for v in r["grad_through_time"].split()] for r in rows]
    assert len(curves) == 2 and all(len(c) == 8 and c[0] > 0 for c in curves)
