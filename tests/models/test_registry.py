"""Every registered model: forward and backward on a tiny batch, the state contract, and an exact
save/load round trip. A new model is tested by registering it."""

from __future__ import annotations

import pytest
import torch

from timesteer.errors import ConfigError
from timesteer.models import create_model, list_models
from timesteer.train.checkpoint import load_checkpoint, model_from_payload, model_payload, save_checkpoint

IN_SHAPE = (3, 66, 200)
EXPECTED = {"mean", "pilotnet", "diffnet", "cnn_lstm", "cnn_gru", "rnn", "conv3d_lstm"}


# Every registered model with its defaults, plus the variants whose structure differs.
VARIANTS = [(name, {}) for name in list_models()] + [
    ("cnn_gru", {"motion_frames": 1, "shift_bands": 0}),  # the plain per-frame CNN + GRU
    ("cnn_lstm", {"motion_frames": 1}),  # slide features without the frame difference
    ("cnn_gru", {"shift_bands": 0}),  # frame difference without the slide
    ("diffnet", {"shift_bands": 4}),
]
VARIANT_IDS = [name + "".join(f"-{k}={v}" for k, v in cfg.items()) for name, cfg in VARIANTS]


def outputs_for(name: str) -> tuple[str, ...]:
    return ("steering", "speed") if name == "conv3d_lstm" else ("steering",)


def test_the_required_models_are_registered():
    assert set(list_models()) >= EXPECTED


@pytest.mark.parametrize(("name", "config"), VARIANTS, ids=VARIANT_IDS)
def test_forward_backward_and_state_contract(name, config):
    torch.manual_seed(0)
    model = create_model(name, in_shape=IN_SHAPE, outputs=outputs_for(name), **config)
    frames = torch.randint(0, 256, (2, 4, *IN_SHAPE), dtype=torch.uint8)
    steering, state = model(frames)
    assert steering.shape == (2, 4) and steering.dtype == torch.float32
    assert isinstance(state, tuple) and all(s.shape[0] == 2 for s in state)
    # The state from one call is accepted by the next (a drive continues).
    steering2, state2 = model(frames, state)
    assert steering2.shape == (2, 4) and [s.shape for s in state2] == [s.shape for s in state]
    # Backward reaches every parameter.
    out, _ = model(frames, standardized=True)
    assert out.shape == (2, 4, len(outputs_for(name)))
    (out - 1.0).pow(2).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(("name", "config"), VARIANTS, ids=VARIANT_IDS)
def test_save_load_round_trip_is_exact(name, config, tmp_path):
    torch.manual_seed(1)
    model = create_model(name, in_shape=IN_SHAPE, outputs=outputs_for(name), **config).eval()
    model.set_normalization([100.0, 110, 120], [50.0, 55, 60], [0.1] * len(model.outputs), [0.3] * len(model.outputs))
    save_checkpoint(tmp_path / "m.pt", {"model": model_payload(model)})
    again = model_from_payload(load_checkpoint(tmp_path / "m.pt")).eval()
    assert again.name == name and again.config == model.config and again.outputs == model.outputs
    frames = torch.randint(0, 256, (1, 3, *IN_SHAPE), dtype=torch.uint8)
    with torch.no_grad():
        a, sa = model(frames)
        b, sb = again(frames)
    assert torch.equal(a, b)
    assert all(torch.equal(x, y) for x, y in zip(sa, sb, strict=True))


def test_pilotnet_has_about_250k_parameters():
    n = sum(p.numel() for p in create_model("pilotnet", in_shape=IN_SHAPE).parameters())
    assert 240_000 < n < 260_000


def test_mean_model_predicts_the_training_mean():
    model = create_model("mean", in_shape=IN_SHAPE)
    model.set_normalization([0.0] * 3, [1.0] * 3, [0.25], [2.0])
    steering, _ = model(torch.zeros(3, 5, *IN_SHAPE))
    assert torch.allclose(steering, torch.full((3, 5), 0.25))


def test_reset_state_zeroes_only_the_reset_lanes():
    model = create_model("cnn_lstm", in_shape=IN_SHAPE)
    _, state = model(torch.randint(0, 256, (3, 2, *IN_SHAPE), dtype=torch.uint8))
    reset = model.reset_state(state, torch.tensor([False, True, False]))
    for before, after in zip(state, reset, strict=True):
        assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])
        assert after[1].abs().sum() == 0


def test_unknown_and_mistyped_config_keys_name_the_key():
    with pytest.raises(ConfigError, match="unknown key 'hiden'"):
        create_model("cnn_gru", hiden=32)
    with pytest.raises(ConfigError, match=r"model cnn_gru\.hidden: expected an integer"):
        create_model("cnn_gru", hidden="32")
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        create_model("resnet")


def test_models_run_on_small_frames():
    """CarRacing frames (84x96) and tiny test frames must work, not only PilotNet's 66x200."""
    for shape in [(3, 84, 96), (3, 24, 32)]:
        for name in list_models():
            steering, _ = create_model(name, in_shape=shape)(torch.zeros(1, 2, *shape))
            assert steering.shape == (1, 2)
