"""The Steerer: frame by frame equals one batched forward, for every registered model; native frames
go through the importer's exact crop and resize; state stays the same size however long it drives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.models.test_registry import VARIANT_IDS, VARIANTS
from timesteer.data import Recording
from timesteer.data.importers.udacity_sim import parse
from timesteer.models import create_model
from timesteer.stream import Preprocessing, Steerer


@pytest.mark.parametrize(("name", "config"), VARIANTS, ids=VARIANT_IDS)
def test_stepping_equals_one_batched_forward(name, config):
    torch.manual_seed(0)
    shape = (3, 66, 200)
    model = create_model(name, in_shape=shape, **config).eval()
    model.set_normalization([120.0, 110, 100], [60.0, 55, 50], [0.05], [0.2])
    frames = torch.randint(0, 256, (1, 12, *shape), dtype=torch.uint8)
    with torch.no_grad():
        batched, _ = model(frames)
    steerer = Steerer(model, Preprocessing(66, 200, 0, 0, 66, 200))
    steerer.reset()
    stepped = [steerer.step_shaped(frames[0, t].permute(1, 2, 0).numpy()) for t in range(12)]
    np.testing.assert_allclose(stepped, batched[0].numpy(), atol=1e-5, rtol=0)
    # reset() starts a new drive: the first output repeats.
    steerer.reset()
    assert steerer.step_shaped(frames[0, 0].permute(1, 2, 0).numpy()) == pytest.approx(stepped[0], abs=1e-6)


def test_native_frames_get_the_importers_crop_and_resize(stream_runs, stream_rec):
    rec = Recording.open(stream_rec)
    steerer = Steerer.from_run(stream_runs["cnn_gru"])
    reference = Steerer.from_run(stream_runs["cnn_gru"])
    parsed = parse(Path(rec.manifest.source.path))
    for i in range(6):
        native = np.asarray(Image.open(parsed.cameras[0].frames.paths[i]).convert("RGB"))
        assert native.shape == (48, 64, 3)
        assert steerer.step(native) == reference.step_shaped(np.asarray(rec.frames[i]))


def test_state_does_not_grow_with_driving_time(stream_runs):
    steerer = Steerer.from_run(stream_runs["conv3d_lstm"])
    frame = np.zeros((48, 64, 3), np.uint8)
    steerer.step(frame)
    shapes = [tuple(s.shape) for s in steerer.state]
    for _ in range(200):
        steerer.step(frame)
    assert [tuple(s.shape) for s in steerer.state] == shapes and steerer.frames_seen == 201


def test_a_pause_in_timestamps_starts_a_new_drive(stream_runs):
    steerer = Steerer.from_run(stream_runs["cnn_gru"])
    frame = np.full((48, 64, 3), 90, np.uint8)
    first = steerer.step(frame, timestamp_s=0.0)
    steerer.step(frame, timestamp_s=0.1)
    assert steerer.frames_seen == 2
    after_gap = steerer.step(frame, timestamp_s=30.0)
    assert steerer.frames_seen == 1 and after_gap == pytest.approx(first, abs=1e-6)


def test_wrong_frames_are_refused(stream_runs):
    steerer = Steerer.from_run(stream_runs["pilotnet"])
    from timesteer.errors import InputError

    with pytest.raises(InputError, match="expected 64x48"):
        steerer.step(np.zeros((50, 64, 3), np.uint8))
    with pytest.raises(InputError, match="RGB uint8"):
        steerer.step(np.zeros((48, 64, 3), np.float32))


def test_fed_at_three_times_its_rate_it_steps_on_its_own_clock(stream_runs, stream_rec):
    """The same drive, each frame also repeated at two in-between timestamps (a simulator answering as
    fast as it can): the steering at the original frames equals feeding it at its own rate."""
    rec = Recording.open(stream_rec)
    frames, times = np.asarray(rec.frames[:30]), rec.timestamps_s[:30]
    own = Steerer.from_run(stream_runs["cnn_gru"])
    fast = Steerer.from_run(stream_runs["cnn_gru"])
    assert own.period_s == pytest.approx(1 / rec.manifest.fps)
    at_own = [own.step_shaped(f, t) for f, t in zip(frames, times, strict=True)]
    at_three: list[float] = []
    for k, (f, t) in enumerate(zip(frames, times, strict=True)):
        at_three.append(fast.step_shaped(f, t))
        if k + 1 < len(times):
            for j in (1, 2):  # the same picture again, a third and two thirds of a period later
                between = fast.step_shaped(f, t + j * (times[k + 1] - t) / 3)
                assert between == at_three[-1]  # not due: the latest output, the model not advanced
    np.testing.assert_array_equal(at_three, at_own)
    assert fast.frames_seen == own.frames_seen == 30 and fast.frames_given == 30 + 2 * 29


def test_a_repeated_frame_does_not_advance_the_model_and_slow_input_warns_once(stream_runs):
    steerer = Steerer.from_run(stream_runs["cnn_gru"])
    period = steerer.period_s
    frame = np.full((48, 64, 3), 90, np.uint8)
    steerer.step(frame, 0.0)
    steerer.step(frame, 0.0)  # a lost frame comes again with its old timestamp
    assert steerer.frames_seen == 1
    import warnings

    t = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(20):  # on time, with a lost frame now and then: no news
            t += 2 * period if _ % 7 == 3 else period
            steerer.step(frame, t)
    with pytest.warns(RuntimeWarning, match="slower than"):
        for _ in range(10):  # then a stream at half the training rate
            t += 2 * period
            steerer.step(frame, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steerer.step(frame, t + 2 * period)  # reported once only
    assert steerer.frames_seen == 32
