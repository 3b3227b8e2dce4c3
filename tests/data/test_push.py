"""Pushes made in the picture (data/push.py): the car turns the way the push turns it, the label steers
against the push and brings the car back, the picture moves about the car, and training refuses a
recording that cannot say where its camera sees the car."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import make_recording
from timesteer.data.manifest import FrameGeometry, TopDownView
from timesteer.data.push import PushTracks, ViewInFrame, move_car
from timesteer.errors import InputError

VIEW = TopDownView(pivot_row_px=23.5, pivot_col_px=31.5, px_per_m_across=2.0, px_per_m_along=2.5, wheelbase_m=3.0,
                   fixed_px=(20, 28, 28, 36))


def one_push(steer_rad: float, react_s: float, frames: int = 150, speed: float = 20.0) -> np.ndarray:
    """A lane pushed once, at once (the wait before the first push is forced to zero)."""
    tracks = PushTracks(1, rate_hz=1e-6, steer=steer_rad, react_s=react_s, recover_s=0.5,
                        frame_period_s=0.04, wheelbase_m=3.0)
    rng = np.random.default_rng(5)
    tracks.restart(np.array([True]), rng)
    tracks.state[0]["wait"] = 1e-9  # the burn-in's first frame starts it
    return tracks.at(0, np.arange(frames) - tracks.burn_in, np.full(frames, speed))


def test_a_push_turns_the_car_its_way_and_the_label_steers_against_it():
    track = one_push(0.2, react_s=0.3)
    push = -track[0, 2]  # the first frame's correction is the push cancelled (nothing has moved yet)
    assert abs(push) >= 0.4 * 0.2 - 1e-9 and abs(push) <= 0.2
    heading, offset = track[:, 1], track[:, 0]
    peak = int(np.argmax(np.abs(heading)))
    assert peak > 0 and np.sign(heading[peak]) == np.sign(push), "pushed right, the car turns right"
    assert np.sign(track[peak, 2]) == -np.sign(push), "and the label steers left"
    # Brought back: heading and offset return near zero within a few recover times, and stay there.
    assert np.abs(heading[100:]).max() < 0.05 * np.abs(heading).max()
    assert np.abs(offset[100:]).max() < 0.1 * max(np.abs(offset).max(), 1e-9)


def test_a_driver_who_reacts_at_once_barely_moves_but_a_late_one_drifts():
    quick = one_push(0.2, react_s=0.0)
    late = one_push(0.2, react_s=0.6)
    assert np.abs(late[:, 1]).max() > 3 * np.abs(quick[:, 1]).max()


def test_tracks_are_reproducible_and_overlapping_requests_agree():
    def tracks():
        t = PushTracks(2, rate_hz=2.0, steer=0.2, react_s=0.2, recover_s=0.5, frame_period_s=0.04,
                       wheelbase_m=3.0)
        t.restart(np.array([True, True]), np.random.default_rng(9))
        return t

    a, b = tracks(), tracks()
    burn = a.burn_in
    assert burn == 25  # two gaps of half a second, 25 frames a second
    first = a.at(1, np.arange(-burn - 3, 40), np.full(43 + burn, 15.0))
    assert np.all(first[:3] == 0), "before the burn-in nothing was pushed"
    assert np.abs(first[3:burn + 3, 1]).max() > 0, "a lane may start pushed"
    again = a.at(1, np.arange(30, 60), np.full(30, 15.0))  # the next chunk overlaps the last by 10 frames
    np.testing.assert_array_equal(again[:10], first[-10:])
    np.testing.assert_array_equal(b.at(1, np.arange(60), np.full(60, 15.0))[:40], first[burn + 3:])
    assert not np.array_equal(a.at(0, np.arange(60), np.full(60, 15.0)), b.at(1, np.arange(60), np.full(60, 15.0)))


def test_an_unmoved_car_sees_the_same_picture_and_the_fixed_pixels_never_move():
    view = ViewInFrame.of(VIEW, FrameGeometry(48, 64, 3, 48, 64))
    frames = torch.rand(1, 2, 3, 48, 64) * 255
    same = move_car(frames, torch.zeros(1, 2), torch.zeros(1, 2), view)
    torch.testing.assert_close(same, frames, atol=1e-3, rtol=0)
    moved = move_car(frames, torch.tensor([[1.0, -2.0]]), torch.tensor([[0.2, -0.1]]), view)
    assert (moved - frames).abs().mean() > 10
    torch.testing.assert_close(moved[..., 20:28, 28:36], frames[..., 20:28, 28:36])


def test_moved_right_the_world_slides_left_and_turned_right_it_turns_left():
    view = ViewInFrame.of(VIEW, FrameGeometry(48, 64, 3, 48, 64))
    frame = torch.zeros(1, 1, 1, 48, 64)
    frame[..., :, 40] = 255  # a line ahead of the car, 8.5 px (4.25 m) to its right
    right = move_car(frame, torch.tensor([[1.0]]), torch.zeros(1, 1), view)[0, 0, 0]
    assert int(right[5].argmax()) == 38, "one metre right: the line 2 px nearer"
    turned = move_car(frame, torch.zeros(1, 1), torch.tensor([[0.3]]), view)[0, 0, 0]
    top, low = float(turned[2].argmax()), float(turned[22].argmax())
    assert top < low, "turned right, a line straight ahead leans left as it goes away"


def test_the_view_follows_the_recording_crop_and_resize():
    geometry = FrameGeometry(height=42, width=48, source_height=96, source_width=96, crop_top=0, crop_bottom=12)
    view = ViewInFrame.of(TopDownView(71.5, 47.5, 1.5552, 1.944, 3.24, (64, 80, 42, 54)), geometry)
    assert view.pivot_row == pytest.approx(35.5) and view.pivot_col == pytest.approx(23.5)  # edges 72, 48 halved
    assert view.px_per_m_across == pytest.approx(0.7776) and view.px_per_m_along == pytest.approx(0.972)
    assert view.fixed == (32, 40, 21, 27)


def test_training_with_pushes_needs_a_recording_that_knows_its_view(tmp_path):
    from timesteer.data.augment import AugmentConfig
    from timesteer.data.windows import plan_lanes
    from timesteer.train.batches import BatchStream
    from timesteer.train.config import TrainConfig
    from timesteer.train.dataset import load_train_data

    rec = make_recording(tmp_path / "rec", n=160)
    cfg = TrainConfig(data=str(rec), out=str(tmp_path / "run"), augment=AugmentConfig(push_rate_hz=3.0))
    with pytest.raises(InputError, match="view") as err:
        load_train_data(cfg, ())
    assert str(rec) in str(err.value)

    manifest = json.loads((rec / "manifest.json").read_text())
    manifest["view"] = {"pivot_row_px": 40.0, "pivot_col_px": 31.5, "px_per_m_across": 2.0, "px_per_m_along": 2.0,
                        "wheelbase_m": 3.0, "fixed_px": None}
    (rec / "manifest.json").write_text(json.dumps(manifest))
    data = load_train_data(cfg, ())
    assert data.pushes is not None and data.pushes.view.pivot_row == pytest.approx(40.0)
    rng = np.random.default_rng(2)
    plan = plan_lanes(data.train_spans, 2, 16, rng)
    plain = AugmentConfig(flip=0, brightness=0, contrast=0, shadow=0)
    pushed = AugmentConfig(flip=0, brightness=0, contrast=0, shadow=0, push_rate_hz=3.0, push_react_s=0.5)
    a = list(BatchStream(data.cameras, data.targets, plan, np.random.default_rng(1), plain, pushes=data.pushes))
    b = list(BatchStream(data.cameras, data.targets, plan, np.random.default_rng(1), pushed, pushes=data.pushes))
    corrections = torch.cat([(y.targets - x.targets).flatten() for x, y in zip(a, b, strict=True)])
    assert corrections.abs().max() > 0.01, "labels corrected"
    assert max(float((y.frames - x.frames).abs().mean()) for x, y in zip(a, b, strict=True)) > 1, "pictures moved"


def test_with_a_label_lead_the_correction_is_the_one_of_the_frame_ahead(tmp_path):
    from timesteer.data.augment import AugmentConfig
    from timesteer.data.push import PushSource
    from timesteer.data.windows import Plan
    from timesteer.train.batches import BatchStream

    n, lead = 120, 3
    frames = np.zeros((n, 48, 64, 3), dtype=np.uint8)
    frames[:, :, 30:34] = 255  # a road straight ahead
    targets = np.zeros((n, 1))
    view = ViewInFrame.of(VIEW, FrameGeometry(48, 64, 3, 48, 64))
    aug = AugmentConfig(flip=0, brightness=0, contrast=0, shadow=0, push_rate_hz=2.0, push_react_s=0.5)

    def labels(lead_frames: int) -> tuple[np.ndarray, PushTracks]:
        pushes = PushSource(view, np.full(n, 15.0), 0.04, 1.0, lead_frames)
        plan = Plan(np.arange(0, 100, 20)[:, None], np.array([[True]] + [[False]] * 4), 20, 0)  # one lane, in order
        stream = BatchStream([frames], targets, plan, np.random.default_rng(4), aug, pushes=pushes)
        out = np.concatenate([b.targets[0, :, 0].numpy() for b in stream])
        assert stream.push_tracks is not None
        return out, stream.push_tracks

    now, tracks = labels(0)
    ahead, _ = labels(lead)
    positions = np.arange(len(now))
    np.testing.assert_allclose(now, tracks.at(0, positions, np.full(len(now), 15.0))[:, 2], atol=1e-6)
    np.testing.assert_allclose(ahead, tracks.at(0, positions + lead, np.full(len(now), 15.0))[:, 2], atol=1e-6)
    assert np.abs(now).max() > 0.01

    # Lead heads (train/lead_heads.py): each steering column corrected at its own lead, the rest untouched.
    pushes = PushSource(view, np.full(n, 15.0), 0.04, 1.0, 0, head_lead_frames=(lead, -1))
    plan = Plan(np.arange(0, 100, 20)[:, None], np.array([[True]] + [[False]] * 4), 20, 0)
    speed = np.full((n, 1), 7.0)
    stream = BatchStream([frames], np.concatenate([targets, targets, targets, speed], axis=1), plan,
                         np.random.default_rng(4), aug, pushes=pushes, steer_columns=3)
    y = np.concatenate([b.targets[0].numpy() for b in stream])
    np.testing.assert_allclose(y[:, 0], now, atol=1e-6)
    np.testing.assert_allclose(y[:, 1], ahead, atol=1e-6)
    np.testing.assert_allclose(y[:, 2], tracks.at(0, positions - 1, np.full(len(now), 15.0))[:, 2], atol=1e-6)
    np.testing.assert_array_equal(y[:, 3], 7.0)
