"""On a GPU the PyTorch step is replayed as one CUDA graph: it steers as the eager model, keeps two drives'
states apart, and uses weights changed in place. These tests need CUDA (a lent GPU machine); they skip
elsewhere, CI included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.stream.test_torch_step import drive, model_and_frames, steers_with_weights_changed_in_place
from timesteer.stream.backends import CudaGraphStep, TorchStep

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(("name", "config"), [("cnn_gru", {}), ("conv3d_lstm", {}), ("diffnet", {}),
                                              ("cnn_gru", {"own_command": True})])
def test_the_graphed_step_steers_as_the_eager_model_on_the_cpu(name, config):
    model, frames = model_and_frames(name, frames=12, **config)
    expected = drive(TorchStep(model, trace=False), frames)
    step = TorchStep(model.to("cuda"))
    assert isinstance(step.step, CudaGraphStep)
    got = drive(step, frames)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)  # TF32/cuDNN vs CPU arithmetic
    assert np.std(got) > 1e-4


def test_two_drives_through_one_graph_keep_their_own_state():
    model, frames = model_and_frames(frames=10)
    step = TorchStep(model.to("cuda"))
    alone = drive(step, frames)
    a_state = b_state = None
    a_out, b_out = [], []
    for frame in frames:  # interleaved: A on the frames, B on the frames mirrored
        a, a_state = step(frame, a_state)
        b, b_state = step(frame[:, ::-1], b_state)
        a_out.append(a)
        b_out.append(b)
    np.testing.assert_allclose(a_out, alone, atol=1e-6, rtol=0)
    assert np.abs(np.array(b_out) - np.array(alone)).max() > 1e-4


def test_the_graph_uses_weights_changed_in_place():
    steers_with_weights_changed_in_place("cuda", atol=1e-4)
