"""DAgger, small: 2 short tracks, 1 iteration. The learner's drives are labelled by the expert, join the
data, the next model starts from the last one's weights, and a killed run resumes where it was."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.helpers import run_cli
from timesteer.data import Recording
from timesteer.sim import Conditions, DaggerConfig, RecordConfig, dagger, record_sim
from timesteer.train import load_checkpoint

TRAIN = {"batch_frames": 32, "seq_len": 8, "threads": 1}


@pytest.fixture(scope="module")
def expert_rec(tmp_path_factory):
    out = tmp_path_factory.mktemp("dagger") / "expert"
    return record_sim(RecordConfig(seeds=[1, 2], out=str(out), laps=0.06, conditions=Conditions(noise=0.4),
                                   workers=2, progress=False))


def test_one_iteration_of_dagger(expert_rec, tmp_path):
    cfg = DaggerConfig(data=str(expert_rec), seeds=[1, 2], out=str(tmp_path / "d"), model="cnn_gru", iterations=1,
                       conditions=Conditions(latency_ms=40.0, drop_frames=0.1), epochs=1, epochs_per_iteration=1,
                       laps=0.06, train=TRAIN, workers=2, progress=False)
    state = dagger(cfg)
    (row,) = state["iterations"]
    assert row["beta"] == 0.5 and 0 <= row["training_autonomy_pct"] <= 100
    drives = Recording.open(tmp_path / "d" / "iter1" / "drives")
    details = drives.manifest.source.details
    assert details["expert_share"] == 0.5 and details["driver"].endswith("iter0/run")
    assert details["conditions"]["latency_ms"] == 40.0
    # The learner drove (its commands are not all the expert's), the labels are the expert's.
    driver, label = drives.signals["driver_steering"], drives.steering
    assert np.mean(np.abs(driver - label) > 1e-6) > 0.2
    # Iteration 1 trained on the expert's data and the drives, starting from iteration 0's weights.
    info = json.loads((tmp_path / "d" / "iter1" / "run" / "run.json").read_text())
    paths = {r["path"] for r in info["data"]["recordings"]}
    assert str(expert_rec.absolute()) in paths and str(drives.path.absolute()) in paths
    assert info["init"].endswith("iter0/run")
    assert state["final"].endswith("iter1/run")
    # Resuming a finished DAgger run redoes nothing.
    before = load_checkpoint(tmp_path / "d" / "iter1" / "run" / "last.pt")["model"]["state_dict"]
    dagger(cfg)
    after = load_checkpoint(tmp_path / "d" / "iter1" / "run" / "last.pt")["model"]["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    # Asked for one more iteration, the finished run goes on from iteration 1 (which stays as it was).
    state = dagger(replace(cfg, iterations=2))
    assert [row["iteration"] for row in state["iterations"]] == [1, 2] and state["final"].endswith("iter2/run")
    again = load_checkpoint(tmp_path / "d" / "iter1" / "run" / "last.pt")["model"]["state_dict"]
    assert all(torch.equal(before[k], again[k]) for k in before)
    info2 = json.loads((tmp_path / "d" / "iter2" / "run" / "run.json").read_text())
    assert info2["init"].endswith("iter1/run")
    assert {str(drives.path.absolute()), str((tmp_path / "d" / "iter2" / "drives").absolute())} <= {
        r["path"] for r in info2["data"]["recordings"]}
    assert Recording.open(tmp_path / "d" / "iter2" / "drives").manifest.source.details["expert_share"] == 0.25


def test_cli_dagger_bounds_its_drives_and_refuses_other_settings_in_the_same_directory(expert_rec, tmp_path,
                                                                                      capsys):
    # A whole lap takes about a minute; --max-seconds ends each of the learner's drives first (Duckietown's
    # drives have no lap to end them: this is how their length is chosen).
    args = ["dagger", "--data", expert_rec, "--seeds", "1", "--out", tmp_path / "d", "--model", "pilotnet",
            "--iterations", "1", "--epochs", "1", "--epochs-per-iteration", "1", "--max-seconds", "1.5",
            "--train", json.dumps(TRAIN), "--workers", "1", "--quiet"]
    code, out, err = run_cli(*args, capsys=capsys)
    assert code == 0, err
    assert "final model" in out and "iteration 1:" in out
    assert json.loads((tmp_path / "d" / "dagger.json").read_text())["config"]["max_seconds"] == 1.5
    episodes = Recording.open(tmp_path / "d" / "iter1" / "drives").manifest.source.details["episodes"]
    assert episodes and all(0 < e["elapsed_s"] <= 1.5 for e in episodes)
    code, _, err = run_cli(*[a if a != "pilotnet" else "cnn_gru" for a in args], capsys=capsys)
    assert code == 2 and "other settings" in err
