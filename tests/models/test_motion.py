"""ShiftFeatures: the sideways slide between two frames, band by band, as the car's yaw shows it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timesteer.models.motion import ShiftFeatures


def scene(width: int = 120, height: int = 32, seed: int = 0) -> np.ndarray:
    """A smooth random texture, wider than the frame, so a slide brings new columns in rather than wrapping."""
    rng = np.random.default_rng(seed)
    cols = np.cumsum(rng.normal(size=(height, width + 40)), axis=1)
    return np.cumsum(cols, axis=0) / 10.0


def frame_at(world: np.ndarray, offset_px: float, width: int = 120) -> torch.Tensor:
    """The camera's view starting `offset_px` columns into the world (linear interpolation between columns)."""
    x = np.arange(width) + 20 + offset_px
    rows = np.stack([np.interp(x, np.arange(world.shape[1]), r) for r in world])
    return torch.tensor(rows, dtype=torch.float32).expand(1, 3, *rows.shape).clone()


@pytest.mark.parametrize("slide_px", [-5, -2, 0, 3, 6])
def test_a_whole_pixel_slide_is_found_in_every_band(slide_px):
    sf = ShiftFeatures(32, 120, bands=4)
    world = scene()
    out = sf(frame_at(world, 0.0), frame_at(world, slide_px))[0]
    # The view moved slide_px columns to the right over the world (the car turned right): +slide_px.
    np.testing.assert_allclose(out[:4].numpy(), slide_px, atol=0.05)
    assert (out[4:] > 0.5).all()  # one slide clearly wins


def test_sub_pixel_slides_are_interpolated():
    sf = ShiftFeatures(32, 120, bands=4)
    world = scene(seed=1)
    out = sf(frame_at(world, 0.0), frame_at(world, 2.5))[0, :4]
    assert (out > 2.2).all() and (out < 2.8).all(), out


def test_a_blank_pair_has_no_clear_slide():
    sf = ShiftFeatures(32, 120, bands=4)
    flat = torch.zeros(1, 3, 32, 120)
    out = sf(flat, flat)[0]
    np.testing.assert_allclose(out.numpy(), 0.0, atol=1e-6)


def test_a_batch_agrees_with_its_frames_one_by_one():
    sf = ShiftFeatures(32, 120, bands=4)
    world = scene(seed=2)
    prev = torch.cat([frame_at(world, float(i % 7)) for i in range(40)])
    cur = torch.cat([frame_at(world, float(i % 7) + (i % 5) - 2) for i in range(40)])
    together = sf(prev, cur)
    alone = torch.cat([sf(prev[i : i + 1], cur[i : i + 1]) for i in range(40)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(together[:, :4].numpy(), ((np.arange(40) % 5) - 2)[:, None] * np.ones((1, 4)),
                               atol=0.05)


def test_the_slides_as_one_view_equal_the_slides_one_by_one(monkeypatch):
    """Live steps take the 2K+1 slides as one strided view, training batches one slice per slide: the
    same costs, so a model steers live as it was trained."""
    from timesteer.models import motion

    sf = ShiftFeatures(32, 120, bands=4)
    world = scene(seed=3)
    prev = torch.cat([frame_at(world, float(i)) for i in range(3)])
    cur = torch.cat([frame_at(world, float(i) + 1.5 * i - 2) for i in range(3)])
    assert prev[:, 0].numel() * (2 * sf.k + 1) <= motion.UNFOLD_MAX_ELEMENTS  # the view by default
    viewed = sf.costs(prev, cur)
    monkeypatch.setattr(motion, "UNFOLD_MAX_ELEMENTS", 0)
    sliced = sf.costs(prev, cur)
    assert viewed.shape == sliced.shape == (3, 4, 2 * sf.k + 1)
    assert sliced.abs().amax() > 0.1  # real costs, not zeros compared with zeros
    torch.testing.assert_close(viewed, sliced, atol=1e-5, rtol=1e-5)


def test_motion_dropout_hides_the_motion_in_training_only():
    import torch

    from timesteer.models import create_model

    torch.manual_seed(0)
    model = create_model("cnn_gru", in_shape=(3, 24, 32), motion_dropout=0.999, dropout=0.0)  # (seeded: both hide)
    head = model.head
    seen = {}
    head.encoder.register_forward_pre_hook(lambda m, args: seen.__setitem__("stack", args[0].detach().clone()))
    head.then.register_forward_pre_hook(lambda m, args: seen.__setitem__("features", args[0].detach().clone()))
    frames = torch.randint(0, 256, (2, 5, 3, 24, 32), dtype=torch.uint8).float()
    model.train()
    model(frames)
    assert torch.count_nonzero(seen["stack"][:, 3:]) == 0  # the frame differences: hidden
    assert torch.count_nonzero(seen["features"][..., -head.shift.out_dim :]) == 0  # the slide: hidden
    assert torch.count_nonzero(seen["stack"][:, :3]) > 0  # the picture stays
    model.eval()
    model(frames)
    assert torch.count_nonzero(seen["stack"][:, 3:]) > 0 and torch.count_nonzero(
        seen["features"][..., -head.shift.out_dim :]) > 0
