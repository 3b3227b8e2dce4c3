"""Training and evaluating on many drives: each recording split in time (or kept whole for training),
normalisation over all of them, no state across drives, weights, and a row per recording in eval."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import make_recording, run_cli
from timesteer.data import Recording
from timesteer.data.windows import plan_lanes
from timesteer.evaluate import EvalConfig, evaluate
from timesteer.train import TrainConfig, train
from timesteer.train.dataset import load_train_data, normalization


@pytest.fixture(scope="module")
def drives(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    return make_recording(root / "a", n=120, segments=2), make_recording(root / "b", n=80)


def test_each_recording_is_split_in_time_and_normalised_together(drives):
    a, b = drives
    data = load_train_data(TrainConfig(data=[str(a), str(b)], out="x"), ())
    assert [len(d.train_spans) for d in data.drives] == [2, 1]
    # The last 20% of each recording is held out; bank indexes of b start after a's 120 frames.
    assert data.val_spans[-1] == (120 + 64, 200) and data.drives[1].offset == 120
    norm = normalization(data)
    targets = np.concatenate([Recording.open(a).steering[:96], Recording.open(b).steering[:64]])
    frames = np.concatenate([Recording.open(a).frames[np.r_[0:48, 60:108]], Recording.open(b).frames[:64]])
    assert norm["target_mean"][0] == pytest.approx(float(targets.mean()), abs=2e-3)
    assert norm["input_mean"][0] == pytest.approx(float(frames[..., 0].mean()), rel=0.02)


def test_no_lane_carries_its_state_from_one_drive_into_another(drives):
    a, b = drives
    data = load_train_data(TrainConfig(data=[str(a), str(b)], out="x"), ())
    bounds = [(s, e) for s, e in data.train_spans]
    plan = plan_lanes(bounds, lanes=4, seq_len=8, rng=np.random.default_rng(0))
    which = np.searchsorted(np.array([e for _, e in bounds]), plan.starts, side="right")  # span of each chunk
    for step in range(1, plan.steps):
        continues = ~plan.reset[step]
        assert np.all(which[step][continues] == which[step - 1][continues])


def test_weights_repeat_a_recordings_chunks():
    spans = [(0, 96), (96, 176)]
    once = plan_lanes(spans, 1, 8, np.random.default_rng(0), [1.0, 1.0])
    thrice = plan_lanes(spans, 1, 8, np.random.default_rng(0), [1.0, 3.0])
    second = int((once.starts >= 96).sum())  # chunks of the second span in one epoch
    assert second >= 9 and thrice.steps == once.steps + 2 * second
    zero = plan_lanes(spans, 1, 8, np.random.default_rng(0), [1.0, 0.0])
    assert zero.starts.max() < 96


def test_train_on_two_drives_and_evaluate_each(drives, tmp_path, capsys):
    a, b = drives
    (tmp_path / "set.json").write_text(json.dumps({"recordings": [str(a), {"path": str(b), "val_fraction": 0.0}]}))
    train(TrainConfig(data=str(tmp_path / "set.json"), out=str(tmp_path / "run"), model="cnn_gru", epochs=1,
                      batch_frames=32, seq_len=8, progress=False, tensorboard=False))
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    refs = info["data"]["recordings"]
    assert [len(r["val_spans"]) for r in refs] == [1, 0] and refs[1]["train_spans"] == [[0, 80]]
    evs = evaluate(EvalConfig(run=str(tmp_path / "run"), data=[str(a), str(b)], split="all"))
    assert [p.metrics["frames"] for p in evs.parts] == [120, 80] and evs.metrics["frames"] == 200
    total = np.sqrt((evs.parts[0].metrics["rmse"] ** 2 * 120 + evs.parts[1].metrics["rmse"] ** 2 * 80) / 200)
    assert evs.metrics["rmse"] == pytest.approx(total, rel=1e-6)  # frame-weighted
    code, out, err = run_cli("eval", tmp_path / "run", "--data", a, b, "--split", "all", capsys=capsys)
    assert code == 0, err
    assert "total (frame-weighted)" in out and str(b)[-30:] in out
    code, _, err = run_cli("eval", tmp_path / "run", "--data", b, capsys=capsys)
    assert code == 2 and "held out nothing" in err
