"""Models that divide the motion they read by the distance travelled per frame (`motion_per_distance`):
a picture sliding twice as far per frame at twice the distance per frame reads the same; the shortcut
test's 2x and 0.5x replays, told the speed, no longer change the answer; the distance comes from the
recording's speed and clock, reaches training batches (a time warp's skipped and repeated frames
included), evaluation, the live step (PyTorch and ONNX Runtime) and the simulator's loop; a recording
without a speed is refused for training before anything is written, and evaluated at the training's
distance per frame (as live without a speed), saying so."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.helpers import make_recording, run_cli, write_donkey_tub
from tests.models.slides import SHAPE, slide_model, sliding
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.data.distance import distances_per_frame
from timesteer.data.windows import Plan
from timesteer.errors import ConfigError, InputError
from timesteer.evaluate.shortcut import shortcut_test
from timesteer.models import create_model
from timesteer.models.base import MIN_DISTANCE_FRACTION
from timesteer.sim import Conditions, EpisodeConfig, run_episode
from timesteer.train import TrainConfig, train
from timesteer.train.batches import BatchStream
from timesteer.train.predict import predict_spans


def test_twice_the_slide_over_twice_the_distance_reads_the_same_and_the_floor_bounds_the_scale():
    model = slide_model(2.0)
    one = torch.from_numpy(sliding(6, 1)).permute(0, 3, 1, 2)[None]
    two = torch.from_numpy(sliding(6, 2)).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        slow, _ = model(one, distances=torch.full((1, 6), 2.0))
        fast, _ = model(two, distances=torch.full((1, 6), 4.0))
        unknown, _ = model(two)  # no speed: the training's distance per frame (2.0) is assumed
        stopped, _ = model(one, distances=torch.zeros(1, 6))
    assert abs(float(slow[0, 3])) == pytest.approx(1.0, abs=0.05)  # one pixel a frame at the training's distance
    torch.testing.assert_close(fast[:, 1:], slow[:, 1:], atol=0.05, rtol=0.05)
    torch.testing.assert_close(unknown[:, 1:], 2 * slow[:, 1:], atol=0.1, rtol=0.05)
    torch.testing.assert_close(stopped[:, 1:], slow[:, 1:] / MIN_DISTANCE_FRACTION, atol=0.2, rtol=0.05)


def test_told_the_speed_the_replays_at_2x_and_half_no_longer_change_the_answer():
    frames = sliding(80)
    steering = np.ones(80)
    spans = [(0, 40), (40, 80)]
    told = shortcut_test(slide_model(2.0), frames, spans, steering, distances=np.full(80, 2.0))
    blind = shortcut_test(slide_model(None), frames, spans, steering)
    assert told["2x"]["gain"] == pytest.approx(1.0, abs=0.05) and blind["2x"]["gain"] == pytest.approx(2.0, abs=0.1)
    assert told["0.5x"]["gain"] == pytest.approx(1.0, abs=0.1) and blind["0.5x"]["gain"] == pytest.approx(0.5, abs=0.1)
    assert told["frozen"]["gain"] == pytest.approx(0.0, abs=0.05)  # a still picture is still no motion


def test_stepping_equals_the_sequence_with_the_distance_in_the_state_also_with_own_command():
    from timesteer.stream.backends import TorchStep

    torch.manual_seed(0)
    model = create_model("cnn_gru", in_shape=SHAPE, motion_per_distance=True, own_command=True).eval()
    model.set_normalization([120.0] * 3, [60.0] * 3, [0.0], [0.3], distance_ref=2.0)
    x = torch.randint(0, 256, (1, 6, *SHAPE), dtype=torch.uint8)
    d = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.5, 2.0]])
    with torch.no_grad():
        whole, state = model(x, distances=d)
        held, _ = model(x)
    assert (whole - held).abs().max() > 1e-4  # the distances are used
    step, s, outs = TorchStep(model), None, []
    for t in range(6):
        s = step.with_distance(s, float(d[0, t]))
        y, s = step(x[0, t].permute(1, 2, 0).numpy(), s)
        outs.append(y)
    np.testing.assert_allclose(outs, whole[0].numpy(), atol=1e-5)
    assert float(state[-2][0, 0]) == 2.0 and float(state[-1][0, 0]) == pytest.approx(float(whole[0, -1]))


def test_a_model_with_no_motion_to_scale_is_refused():
    with pytest.raises(ConfigError, match="motion_per_distance"):
        create_model("cnn_gru", in_shape=SHAPE, motion_frames=1, shift_bands=0, motion_per_distance=True)
    with pytest.raises(ConfigError):
        create_model("pilotnet", in_shape=SHAPE, motion_per_distance=True)  # one frame: no motion at all


def test_distances_are_speed_times_the_clock_and_a_segment_starts_with_the_usual_period(tmp_path):
    rec = Recording.open(make_recording(tmp_path / "rec", n=40, segments=2, size=(30, 40)))
    d = distances_per_frame(rec)
    speed, t = rec.signals["speed"], rec.timestamps_s
    assert [s.start for s in rec.segments] == [0, 20]
    np.testing.assert_allclose(d[1:20], speed[1:20] * np.diff(t[:20]), rtol=1e-5)
    np.testing.assert_allclose(d[21:], speed[21:] * np.diff(t[20:]), rtol=1e-5)
    np.testing.assert_allclose(d[[0, 20]], speed[[0, 20]] * 0.1, rtol=1e-3)  # not the 3-second gap


def test_batches_carry_the_distance_between_the_frames_shown_through_a_time_warp():
    frames = np.zeros((30, *SHAPE[1:], 3), dtype=np.uint8)
    distances = np.arange(1, 31, dtype=np.float32)
    warp = np.arange(30)
    warp[10:14] = [10, 12, 14, 16]  # 2x: frames skipped
    warp[20:24] = [20, 20, 21, 21]  # 0.5x: frames repeated
    plan = Plan(starts=np.array([[10], [20]]), reset=np.ones((2, 1), dtype=bool), seq_len=4, warmup=0)
    batches = list(BatchStream([frames], np.zeros((30, 1), np.float32), plan, np.random.default_rng(0), None,
                               warp=warp, distances=distances))
    np.testing.assert_allclose(batches[0].distances[0], [11, 12 + 13, 14 + 15, 16 + 17])
    np.testing.assert_allclose(batches[1].distances[0], [21, 0, 22, 0])


@pytest.fixture(scope="module")
def distance_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("perdist")
    rec = make_recording(root / "rec", n=64, size=(30, 40))
    train(TrainConfig(data=str(rec), out=str(root / "run"), model="cnn_gru",
                      model_config={"motion_per_distance": True}, epochs=1, batch_frames=32, threads=2,
                      progress=False, tensorboard=False))
    return root / "run", rec


def test_training_measures_motion_against_its_median_distance_and_evaluation_uses_the_recording(distance_run):
    from timesteer.evaluate import EvalConfig, evaluate
    from timesteer.train.run import load_run

    run, rec = distance_run
    info = json.loads((run / "run.json").read_text())
    want = float(np.median(distances_per_frame(Recording.open(rec))[:51]))  # the training split's frames
    assert info["normalization"]["distance_ref"] == pytest.approx(want, rel=0.02)
    assert float(load_run(run).model.distance_ref) == pytest.approx(info["normalization"]["distance_ref"])
    part = evaluate(EvalConfig(run=str(run), data=[str(rec)])).parts[0]
    loaded, r = load_run(run), Recording.open(rec)
    told = predict_spans(loaded.model, r.frames, part.spans, distances=distances_per_frame(r))[:, 0]
    assumed = predict_spans(loaded.model, r.frames, part.spans)[:, 0]
    np.testing.assert_allclose(part.pred, told, atol=1e-6)  # evaluation hands the model the recording's distances
    assert np.abs(told - assumed).max() > 1e-6


def test_live_it_steps_alike_in_pytorch_and_onnx_runtime_and_hears_the_speed(distance_run):
    from timesteer.stream.steerer import Steerer

    run, rec = distance_run
    r = Recording.open(rec)
    frames, t, speed = np.asarray(r.frames[:10]), r.timestamps_s, r.signals["speed"]
    out = {}
    for name, s, factor in (("torch", Steerer.from_run(run), 1.0), ("onnx", Steerer.from_run(run, backend="onnx"), 1.0),
                            ("slow", Steerer.from_run(run), 0.25), ("unsaid", Steerer.from_run(run), None)):
        assert s.takes_speed
        out[name] = np.array([s.step_shaped(f, t[i], None if factor is None else speed[i] * factor)
                              for i, f in enumerate(frames)])
    np.testing.assert_allclose(out["onnx"], out["torch"], atol=1e-4)
    assert np.abs(out["slow"] - out["torch"]).max() > 1e-5  # a quarter of the speed reads as more curvature
    # Without a speed it assumes the training's: about what this recording's speed says (its speed is constant).
    np.testing.assert_allclose(out["unsaid"], out["torch"], atol=0.02)


def test_a_recording_without_speed_is_refused_before_anything_is_written(tmp_path):
    tub = write_donkey_tub(tmp_path / "tub", n=24)
    rec = tmp_path / "rec"
    import_recording(ImportConfig(format="donkey", src=str(tub), dest=str(rec), progress=False))
    out = tmp_path / "run"
    with pytest.raises(InputError, match="speed") as err:
        train(TrainConfig(data=str(rec), out=str(out), model="cnn_gru", model_config={"motion_per_distance": True},
                          epochs=1, progress=False, tensorboard=False))
    assert "signals.csv" in str(err.value) and not out.exists()


def without_speed(rec, dest):
    """A copy of the recording with its speed column taken out (as a plain video + CSV import has none)."""
    shutil.copytree(rec, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["signals"].remove("speed")
    (dest / "manifest.json").write_text(json.dumps(manifest))
    rows = [line.split(",") for line in (dest / "signals.csv").read_text().splitlines()]
    drop = rows[0].index("speed")
    (dest / "signals.csv").write_text("".join(",".join(r[:drop] + r[drop + 1 :]) + "\n" for r in rows))
    return dest


def test_evaluation_without_a_speed_assumes_the_trainings_distance_and_says_so(distance_run, tmp_path, capsys):
    from timesteer.evaluate import EvalConfig, evaluate
    from timesteer.train.run import load_run

    run, rec = distance_run
    bare = without_speed(rec, tmp_path / "bare")
    r = Recording.open(bare)
    assert not r.has_signal("speed") and r.has_signal("steering")
    ev = evaluate(EvalConfig(run=str(run), data=[str(bare)], split="all"))
    assumed = predict_spans(load_run(run).model, r.frames, ev.parts[0].spans)[:, 0]
    np.testing.assert_allclose(ev.parts[0].pred, assumed, atol=1e-6)  # the training's distance, every frame
    assert ev.metrics["speed_assumed"]
    assert not evaluate(EvalConfig(run=str(run), data=[str(rec)], split="all")).metrics["speed_assumed"]
    code, out, _ = run_cli("eval", str(run), "--data", str(bare), "--split", "all", capsys=capsys)
    assert code == 0 and "assumed its training's distance per frame" in out
    code, out, _ = run_cli("eval", str(run), "--data", str(rec), "--split", "all", capsys=capsys)
    assert code == 0 and "assumed" not in out
    # explain too: the shortcut test's replays cannot be told their speed either, and it says so.
    code, out, _ = run_cli("explain", str(run), "--data", str(bare), "--split", "all", "--out", str(tmp_path / "ex"),
                           "--video-seconds", "1", "--quiet", capsys=capsys)
    assert code == 0 and "assumed its training's distance per frame throughout" in out
    assert json.loads((tmp_path / "ex" / "explain.json").read_text())["speed_assumed"] is True
    # compare marks the run and says why under the table; the report's page has a line for it.
    code, out, _ = run_cli("compare", str(run), "--data", str(bare), "--split", "all", capsys=capsys)
    assert code == 0 and " * |" in out and "* speed: none recorded" in out
    code, out, _ = run_cli("compare", str(run), "--data", str(rec), "--split", "all", capsys=capsys)
    assert code == 0 and "* speed" not in out and " * |" not in out
    for data, said in ((bare, True), (rec, False)):
        page = tmp_path / f"report-{data.name}"
        code, _, err = run_cli("report", str(run), "--data", str(data), "--split", "all", "--out", str(page),
                               "--no-video", "--no-explain", "--quiet", capsys=capsys)
        assert code == 0, err
        assert ("assumed its training&#x27;s distance per frame" in (page / "index.html").read_text()) is said


def test_the_simulator_tells_the_driver_the_speed_of_every_frame_it_sees():
    heard: list[float] = []
    seen: list[float] = []

    def policy(frame, t_s):
        seen.append(t_s)
        return 0.0

    ep = run_episode(4, EpisodeConfig(laps=0.05, max_seconds=3.0, conditions=Conditions(drop_frames=0.3)), policy,
                     on_speed=heard.append)
    kept = ~np.asarray(ep.dropped)
    assert 0 < len(heard) == int(kept.sum()) < len(seen)  # a lost frame brings no new reading
    np.testing.assert_allclose(heard, np.asarray(ep.speed_mps)[kept])
