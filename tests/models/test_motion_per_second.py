"""Models that divide the motion they read by the time between frames (`motion_per_second`), for a
steering that is a turn rate: a lost frame (twice the time, twice the slide) reads as one frame's motion,
while twice the speed at the same frame rate still reads as twice the motion (a faster car needs more
turn rate for the same curve); the periods come from the timestamps alone (no speed needed), reach
training, the shortcut test, the live step (PyTorch and ONNX Runtime) and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import make_recording, write_donkey_tub
from tests.models.slides import SHAPE, slide_model, sliding
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.data.distance import distances_for, distances_per_frame
from timesteer.errors import ConfigError
from timesteer.evaluate.shortcut import shortcut_test
from timesteer.models import create_model
from timesteer.train import TrainConfig, train


def test_the_shortcut_replays_keep_the_clock_so_the_motion_says_the_turn_rate():
    frames, steering, spans = sliding(80), np.ones(80), [(0, 40), (40, 80)]
    periods = np.full(80, 0.1)
    per_second = shortcut_test(slide_model(0.1, per_second=True), frames, spans, steering, distances=periods)
    # told as distances, the same periods would be scaled with the replay's speed and cancel it
    per_distance = shortcut_test(slide_model(0.1), frames, spans, steering, distances=periods)
    assert per_second["2x"]["gain"] == pytest.approx(2.0, abs=0.1)  # twice the speed: twice the turn rate
    assert per_distance["2x"]["gain"] == pytest.approx(1.0, abs=0.05)
    assert per_second["0.5x"]["gain"] == pytest.approx(0.5, abs=0.1)


def test_a_lost_frame_twice_the_period_reads_as_one_frames_motion():
    model = slide_model(0.1, per_second=True)
    one = torch.from_numpy(sliding(6, 1)).permute(0, 3, 1, 2)[None]
    two = torch.from_numpy(sliding(6, 2)).permute(0, 3, 1, 2)[None]  # every other frame lost
    with torch.no_grad():
        steady, _ = model(one, distances=torch.full((1, 6), 0.1))
        lossy, _ = model(two, distances=torch.full((1, 6), 0.2))
    torch.testing.assert_close(lossy[:, 1:], steady[:, 1:], atol=0.05, rtol=0.05)
    assert abs(float(steady[0, 3])) == pytest.approx(1.0, abs=0.05)


def test_periods_need_no_speed_and_a_segment_starts_with_the_usual_period(tmp_path):
    rec = Recording.open(make_recording(tmp_path / "rec", n=40, segments=2, size=(30, 40)))
    p = distances_per_frame(rec, per_second=True)
    t = rec.timestamps_s
    np.testing.assert_allclose(p[1:20], np.diff(t[:20]), rtol=1e-5)
    np.testing.assert_allclose(p[[0, 20]], 0.1, rtol=1e-3)  # not the 3-second gap between the segments
    model = create_model("diffnet", in_shape=SHAPE, motion_per_second=True)
    assert model.distance_input and model.distance_per_second
    np.testing.assert_allclose(distances_for(model, rec), p)
    assert distances_for(create_model("diffnet", in_shape=SHAPE), rec) is None


def test_both_at_once_or_no_motion_to_scale_is_refused():
    with pytest.raises(ConfigError, match="choose one"):
        create_model("diffnet", in_shape=SHAPE, motion_per_distance=True, motion_per_second=True)
    with pytest.raises(ConfigError, match="motion_per_second"):
        create_model("cnn_gru", in_shape=SHAPE, motion_frames=1, shift_bands=0, motion_per_second=True)


@pytest.fixture(scope="module")
def tub_run(tmp_path_factory):
    """A run trained per second on a donkeycar tub, which records no speed (per distance is refused there)."""
    root = tmp_path_factory.mktemp("persec")
    tub = write_donkey_tub(root / "tub", n=48)
    rec = root / "rec"
    import_recording(ImportConfig(format="donkey", src=str(tub), dest=str(rec), progress=False))
    train(TrainConfig(data=str(rec), out=str(root / "run"), model="cnn_gru", model_config={"motion_per_second": True},
                      epochs=1, batch_frames=32, threads=2, progress=False, tensorboard=False))
    return root / "run", rec


def test_training_on_a_recording_without_speed_measures_motion_against_the_median_period(tub_run):
    from timesteer.train.run import load_run

    run, rec = tub_run
    r = Recording.open(rec)
    ref = json.loads((run / "run.json").read_text())["normalization"]["distance_ref"]
    assert ref == pytest.approx(float(np.median(np.diff(r.timestamps_s))), rel=0.02)
    loaded = load_run(run).model
    assert loaded.distance_per_second and float(loaded.distance_ref) == pytest.approx(ref)


def test_live_it_needs_no_speed_hears_the_clock_and_steps_alike_in_onnx_runtime(tub_run):
    from timesteer.stream.steerer import Steerer

    run, rec = tub_run
    r = Recording.open(rec)
    frames, t = np.asarray(r.frames[:12]), np.asarray(r.timestamps_s[:12])
    out = {}
    for name, s, clock in (("torch", Steerer.from_run(run), t), ("onnx", Steerer.from_run(run, backend="onnx"), t),
                           ("speed", Steerer.from_run(run), t), ("slow clock", Steerer.from_run(run), t * 4)):
        assert not s.takes_speed  # the clock is all it needs
        s.period_s = None  # every frame due, whatever the clock
        out[name] = np.array([s.step_shaped(f, float(clock[i]), 7.0 if name == "speed" else None)
                              for i, f in enumerate(frames)])
    np.testing.assert_allclose(out["onnx"], out["torch"], atol=1e-4)
    np.testing.assert_allclose(out["speed"], out["torch"], atol=1e-6)  # a speed told is not used
    assert np.abs(out["slow clock"] - out["torch"]).max() > 1e-5  # four times the period: a quarter the turn rate
