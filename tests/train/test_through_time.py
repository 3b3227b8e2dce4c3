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


def test_a_model_that_measures_its_motion_is_measured_on_the_inputs_it_drives_on():
    """With motion per distance (the default where the speed is recorded) the recurrence's inputs are the
    scaled ones: what the inner head really gets, and not what it would get at another distance."""
    from timesteer.train.through_time import recurrence_inputs

    torch.manual_seed(0)
    model = create_model("cnn_gru", in_shape=SHAPE, motion_per_distance=True).eval()
    model.set_normalization([127.5] * 3, [64.0] * 3, [0.0], [1.0], distance_ref=1.0)
    x, y = frames_and_targets()
    d = torch.linspace(0.5, 2.0, x.shape[1]).expand(x.shape[0], -1).contiguous()
    seen = []
    hook = model.head.then.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
    with torch.no_grad():
        model(x, distances=d)
    hook.remove()
    f, _ = recurrence_inputs(model, x, None, d)
    assert torch.allclose(f, seen[0], atol=1e-5)
    assert not torch.allclose(recurrence_inputs(model, x, None, 2 * d)[0], seen[0], atol=1e-3)
    norms = gradient_norms(model, x, y, distances=d)
    assert norms.shape == (x.shape[1],) and norms[0] > 0
