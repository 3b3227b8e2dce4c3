"""The PyTorch backend's step: traced with TorchScript when made, equal to the model run eagerly, sharing
its weights; a model that cannot be traced still steers, eagerly, and says so."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from timesteer.models import create_model
from timesteer.stream.backends import TorchStep


def model_and_frames(name: str = "cnn_gru", frames: int = 8, **config):
    torch.manual_seed(0)
    model = create_model(name, in_shape=(3, 48, 64), **config).eval()
    model.set_normalization([120.0, 110, 100], [60.0, 55, 50], [0.05], [0.2])
    rng = np.random.default_rng(0)
    return model, [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(frames)]


def drive(step: TorchStep, frames: list[np.ndarray], commands: list[float] | None = None) -> list[float]:
    state, out = None, []
    for i, frame in enumerate(frames):
        steering, state = step(frame, state)
        if commands is not None:  # the car was given another command than the model's own
            state = step.with_command(state, commands[i])
        out.append(steering)
    return out


@pytest.mark.parametrize(("name", "config"), [("cnn_gru", {}), ("conv3d_lstm", {}), ("pilotnet", {}),
                                              ("cnn_gru", {"own_command": True})])
def test_the_traced_step_steers_as_the_eager_model(name, config):
    model, frames = model_and_frames(name, **config)
    traced, eager = TorchStep(model), TorchStep(model, trace=False)
    assert isinstance(traced.step, torch.jit.ScriptModule)
    assert not isinstance(eager.step, torch.jit.ScriptModule)
    commands = [0.3 * np.sin(i) for i in range(len(frames))] if config else None
    a, b = drive(traced, frames, commands), drive(eager, frames, commands)
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    assert np.std(a) > 1e-4  # the frames moved the steering: equal outputs are not constant outputs


def steers_with_weights_changed_in_place(device: str, atol: float) -> None:
    """A step made before its model's weights change steers with the new weights, as the eager model does."""
    model, frames = model_and_frames()
    step = TorchStep(model.to(device))
    before = drive(step, frames)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    after = drive(step, frames)
    assert np.abs(np.array(after) - np.array(before)).max() > 1e-3
    np.testing.assert_allclose(after, drive(TorchStep(model, trace=False), frames), atol=atol, rtol=0)


def test_the_trace_steers_with_weights_changed_after_it_was_made():
    steers_with_weights_changed_in_place("cpu", atol=1e-6)


def test_a_model_that_cannot_be_traced_steers_eagerly_and_says_so(monkeypatch, caplog):
    model, frames = model_and_frames()

    def refuse(*args, **kwargs):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    with caplog.at_level(logging.WARNING, logger="timesteer.stream.backends"):
        step = TorchStep(model)
    assert not isinstance(step.step, torch.jit.ScriptModule)
    assert any("without TorchScript" in r.message and "cannot trace this" in r.message for r in caplog.records)
    monkeypatch.undo()
    np.testing.assert_allclose(drive(step, frames), drive(TorchStep(model), frames), atol=1e-6, rtol=0)
