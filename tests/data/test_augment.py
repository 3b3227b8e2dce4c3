"""Augmentation: consistent over a sequence, flips negate steering, corrections have the right sign."""

from __future__ import annotations

import numpy as np
import torch

from timesteer.data.augment import AugmentConfig, LaneParams, apply


def frames_with_bar(b=2, t=3, h=8, w=16, col=4) -> torch.Tensor:
    x = torch.full((b, t, 3, h, w), 50.0)
    x[..., col] = 200.0
    return x


def test_identity_params_change_nothing():
    x = frames_with_bar()
    steer = torch.tensor([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.1]])
    y, s = apply(x, steer, LaneParams.identity(2), AugmentConfig())
    assert torch.allclose(y, x) and torch.allclose(s, steer)


def test_flip_mirrors_frames_and_negates_steering_for_the_whole_sequence():
    x = frames_with_bar(col=4)
    p = LaneParams.identity(2)
    p.flip[:] = [True, False]
    steer = torch.tensor([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    y, s = apply(x, steer, p, AugmentConfig())
    assert (y[0, :, :, :, 16 - 1 - 4] == 200).all() and (y[1, :, :, :, 4] == 200).all()
    assert torch.allclose(s[0], -steer[0]) and torch.allclose(s[1], steer[1])


def test_shift_moves_content_right_and_steers_right():
    x = frames_with_bar(col=4)
    p = LaneParams.identity(2)
    p.shift_px[:] = [3, 0]
    cfg = AugmentConfig(shift_px=3, shift_steer_per_px=0.01)
    y, s = apply(x, torch.zeros(2, 3), p, cfg)
    assert (y[0, :, :, :, 7] == 200).all()
    assert torch.allclose(s[0], torch.full((3,), 0.03)) and torch.allclose(s[1], torch.zeros(3))


def test_side_camera_offsets_and_brightness_shadow_stay_in_range():
    x = frames_with_bar()
    p = LaneParams.identity(2)
    p.camera[:] = [1, 2]
    p.brightness[:] = [1.4, 0.6]
    p.shadow[:] = True
    p.shadow_x[:] = [[0.5, 0.5], [0.2, 0.8]]
    p.shadow_dark[:] = 0.5
    y, s = apply(x, torch.zeros(2, 3), p, AugmentConfig(), side_offset=0.2)
    assert torch.allclose(s[0], torch.full((3,), 0.2)) and torch.allclose(s[1], torch.full((3,), -0.2))
    assert y.min() >= 0 and y.max() <= 255
    # The shadow darkens the left half of lane 0, the same on every frame of the sequence.
    assert (y[0, :, :, :, :8].mean() < y[0, :, :, :, 8:].mean())
    assert torch.allclose(y[0, 0], y[0, 2])


def test_redraw_only_touches_lanes_that_start_a_new_sequence():
    p = LaneParams.identity(4)
    rng = np.random.default_rng(0)
    p.redraw(np.array([True, False, True, False]), AugmentConfig(flip=1.0), rng, side_cameras=True)
    assert p.flip.tolist() == [True, False, True, False]
    assert p.brightness[1] == 1.0 and p.brightness[0] != 1.0
