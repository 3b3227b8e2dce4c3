"""Pushes through a forward camera (data/dashcam.py): a picture moved by `move_dashcam` is the one a camera
on the moved car takes of a flat road (a road drawn here by following each pixel's ray to the ground); the
view follows the recording's resize; a car steered by a yaw command turns at its rate and is brought back;
and training pushes a recording that has a dashcam."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tests.helpers import make_recording
from timesteer.data.dashcam import DashcamInFrame, move_dashcam
from timesteer.data.manifest import DashcamView, FrameGeometry
from timesteer.data.push import PushTracks

H, W = 60, 80
VIEW = DashcamView(focal_px=H / 2 / math.tan(math.radians(75) / 2), centre_row_px=H / 2 - 0.5,
                   centre_col_px=W / 2 - 0.5, height_m=0.1, ahead_m=0.07, tilt_down_rad=math.radians(20),
                   yaw_rate_per_unit=0.5, full_lock=3.0)


def road(view: DashcamInFrame, offset_m: float = 0.0, heading_rad: float = 0.0) -> torch.Tensor:
    """(1, 1, 1, H, W): what the camera of a car `offset_m` right of the origin, turned `heading_rad` right,
    sees of a flat ground with lines along it every 0.3 m and across it every 0.5 m (smoothly shaded, so
    that bilinear resampling can follow it); the sky is a left-to-right ramp (a far-away scene)."""
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    x = (cols - view.centre_col) / view.focal_col_px
    y = -(rows - view.centre_row) / view.focal_row_px
    s, c = math.sin(view.tilt_down_rad), math.cos(view.tilt_down_rad)
    ray = np.stack([x, y * c - s, y * s + c])  # right, up, ahead in the car's frame
    # The car's frame in the world's: turned right by the heading, moved right by the offset.
    ch, sh = math.cos(heading_rad), math.sin(heading_rad)
    world_x = ray[0] * ch + ray[2] * sh
    world_z = -ray[0] * sh + ray[2] * ch
    cam_x, cam_z = offset_m + view.ahead_m * sh, view.ahead_m * ch
    ground = ray[1] < -0.05
    reach = view.height_m / np.where(ground, -ray[1], 1.0)
    gx, gz = cam_x + reach * world_x, cam_z + reach * world_z
    pattern = 127 + 60 * np.cos(2 * math.pi * gx / 0.3) + 60 * np.cos(2 * math.pi * gz / 0.5)
    sky = 128 + 100 * np.arctan2(world_x, world_z)
    picture = np.where(ground, pattern, sky)
    return torch.from_numpy(picture).float()[None, None, None]


def test_an_unmoved_camera_sees_the_same_picture():
    view = DashcamInFrame.of(VIEW, FrameGeometry(H, W, 3, H, W))
    frames = torch.rand(2, 3, 3, H, W) * 255
    same = move_dashcam(frames, torch.zeros(2, 3), torch.zeros(2, 3), view)
    torch.testing.assert_close(same, frames, atol=1e-2, rtol=0)


@pytest.mark.parametrize("offset_m,heading_rad", [(0.04, 0.0), (0.0, 0.1), (-0.03, -0.15), (0.02, 0.08)])
def test_a_moved_picture_is_what_the_moved_camera_sees_of_a_flat_road(offset_m, heading_rad):
    view = DashcamInFrame.of(VIEW, FrameGeometry(H, W, 3, H, W))
    here = road(view)
    there = road(view, offset_m, heading_rad)[0, 0, 0]
    rows = slice(int(view.centre_row) + 8, H - 6)  # the road well below the horizon, away from the bottom edge

    def error(off: float, head: float) -> float:
        moved = move_dashcam(here, torch.tensor([[off]]), torch.tensor([[head]]), view)[0, 0, 0]
        return float((moved - there)[rows, 10:-10].abs().mean())

    right_way = error(offset_m, heading_rad)
    assert right_way < 2.5, right_way  # of about 255: the same picture, resampled
    assert right_way < 0.25 * error(-offset_m, -heading_rad), "the other way round is far off"
    assert right_way < 0.25 * error(0.0, 0.0), "and so is not moving at all"


def test_the_view_follows_the_recording_resize():
    big = FrameGeometry(H, W, 3, H, W)
    half = FrameGeometry(H // 2, W // 2, 3, H, W)
    a, b = DashcamInFrame.of(VIEW, big), DashcamInFrame.of(VIEW, half)
    assert b.focal_row_px == pytest.approx(a.focal_row_px / 2) and b.focal_col_px == pytest.approx(a.focal_col_px / 2)
    assert b.centre_row == pytest.approx(H / 4 - 0.5) and b.centre_col == pytest.approx(W / 4 - 0.5)
    # The same move of the same road at half the size: the half-size warp is the full-size one, halved.
    full = move_dashcam(road(a), torch.tensor([[0.03]]), torch.tensor([[0.1]]), a)
    halved = torch.nn.functional.avg_pool2d(full[0, 0], 2)
    small = move_dashcam(torch.nn.functional.avg_pool2d(road(a)[0, 0], 2)[None, None], torch.tensor([[0.03]]),
                         torch.tensor([[0.1]]), b)[0, 0]
    rows = slice(H // 4 + 4, H // 2 - 3)
    assert float((small - halved)[..., rows, 5:-5].abs().mean()) < 6


def test_a_yaw_command_turns_the_car_at_its_rate_and_the_label_brings_it_back():
    tracks = PushTracks(1, rate_hz=1e-6, steer=1.5, react_s=0.4, recover_s=0.5, frame_period_s=1 / 30,
                        wheelbase_m=None, yaw_rate_per_unit=0.5)
    tracks.restart(np.array([True]), np.random.default_rng(3))
    tracks.state[0]["wait"] = 1e-9
    track = tracks.at(0, np.arange(240) - tracks.burn_in, np.full(240, 0.2))
    push = -track[0, 2]
    assert 0.4 * 1.5 - 1e-9 <= abs(push) <= 1.5
    # Before the driver reacts, the heading grows at the yaw rate the push commands (0.5 rad/s per unit).
    np.testing.assert_allclose(track[1, 1] - track[0, 1], 0.5 * push / 30, rtol=1e-9)
    peak = int(np.argmax(np.abs(track[:, 1])))
    assert np.sign(track[peak, 1]) == np.sign(push) and np.sign(track[peak, 2]) == -np.sign(push)
    assert np.abs(track[200:, 1]).max() < 0.05 * np.abs(track[:, 1]).max(), "brought back"
    with pytest.raises(ValueError, match="one of the two"):
        PushTracks(1, 1.0, 1.0, 0.2, 0.5, 0.04, wheelbase_m=3.0, yaw_rate_per_unit=0.5)


def test_training_pushes_a_recording_with_a_dashcam_in_its_own_unit(tmp_path):
    from timesteer.config import to_dict
    from timesteer.data.augment import AugmentConfig
    from timesteer.data.windows import plan_lanes
    from timesteer.train.batches import BatchStream
    from timesteer.train.config import TrainConfig
    from timesteer.train.dataset import load_train_data

    rec = make_recording(tmp_path / "rec", n=160)
    manifest = json.loads((rec / "manifest.json").read_text())
    manifest["dashcam"] = to_dict(VIEW)
    manifest["steering"]["to_rad"] = None  # a yaw command has no radians: pushes are in its own unit
    (rec / "manifest.json").write_text(json.dumps(manifest))
    cfg = TrainConfig(data=str(rec), out=str(tmp_path / "run"), augment=AugmentConfig(push_rate_hz=3.0))
    data = load_train_data(cfg, ())
    assert data.pushes is not None and isinstance(data.pushes.view, DashcamInFrame) and data.pushes.to_rad == 1.0
    plan = plan_lanes(data.train_spans, 2, 16, np.random.default_rng(2))
    plain = AugmentConfig(flip=0, brightness=0, contrast=0, shadow=0)
    pushed = AugmentConfig(flip=0, brightness=0, contrast=0, shadow=0, push_rate_hz=3.0, push_react_s=0.5)
    a = list(BatchStream(data.cameras, data.targets, plan, np.random.default_rng(1), plain, pushes=data.pushes))
    b = list(BatchStream(data.cameras, data.targets, plan, np.random.default_rng(1), pushed, pushes=data.pushes))
    corrections = torch.cat([(y.targets - x.targets).flatten() for x, y in zip(a, b, strict=True)])
    assert corrections.abs().max() > 0.1, "labels corrected, in the yaw command's unit"
    assert max(float((y.frames - x.frames).abs().mean()) for x, y in zip(a, b, strict=True)) > 1, "pictures moved"
