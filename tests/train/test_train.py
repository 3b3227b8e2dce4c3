"""Training: it learns, writes what it promises, is deterministic, and refuses to clobber a run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import make_recording, run_cli
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.train import TrainConfig, load_checkpoint, model_from_payload, train


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recording(tmp_path_factory.mktemp("data") / "rec", n=320, segments=2)


def read_metrics(run) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def small(rec, out, **kw) -> TrainConfig:
    base = dict(data=str(rec), out=str(out), epochs=3, batch_frames=32, threads=2, progress=False,
                tensorboard=False)
    return TrainConfig(**{**base, **kw})


def test_pilotnet_learns_the_synthetic_road(rec, tmp_path):
    result = train(small(rec, tmp_path / "p", model="pilotnet", epochs=8, lr=2e-3))
    mean = train(small(rec, tmp_path / "m", model="mean", epochs=2))
    r = Recording.open(rec)
    val_std = float(np.std(r.steering[256:]))
    assert result.best_val_rmse < 0.5 * val_std, (result.best_val_rmse, val_std)
    assert result.best_val_rmse < 0.6 * mean.best_val_rmse


def test_run_directory_holds_checkpoints_metrics_and_config(rec, tmp_path):
    out = tmp_path / "run"
    train(small(rec, out, model="cnn_gru", epochs=2, tensorboard=True))
    rows = read_metrics(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # numbered from 1, as the console counts
    assert all(float(r["frames_per_s"]) > 0 and 0 <= float(r["data_wait_fraction"]) <= 1 for r in rows)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 2
    assert info["schedule"]["stateful"] is True and info["schedule"]["seq_len"] == 16
    (recording,) = info["data"]["recordings"]
    assert recording["val_spans"] and recording["train_spans"]
    assert Path(info["config"]["data"]).is_absolute()  # the run can be resumed from anywhere
    assert any((out / "tensorboard").iterdir())
    payload = load_checkpoint(out / "best.pt")
    assert {"model", "optimizer", "scheduler", "epoch", "normalization", "train_config"} <= set(payload)
    model = model_from_payload(payload)
    assert model.name == "cnn_gru"
    # Normalisation came from the training split and travels inside the model.
    assert torch.allclose(model.input_mean, torch.tensor(payload["normalization"]["input_mean"], dtype=torch.float32))


def test_same_seed_same_weights_other_seed_other_weights(rec, tmp_path):
    a = train(small(rec, tmp_path / "a", model="cnn_gru", epochs=1, seed=3))
    b = train(small(rec, tmp_path / "b", model="cnn_gru", epochs=1, seed=3))
    c = train(small(rec, tmp_path / "c", model="cnn_gru", epochs=1, seed=4))
    wa, wb, wc = (load_checkpoint(r.run_dir / "last.pt")["model"]["state_dict"] for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_every_model_trains_one_epoch(rec, tmp_path):
    from timesteer.models import list_models

    for name in list_models():
        result = train(small(rec, tmp_path / name, model=name, epochs=1))
        assert np.isfinite(result.best_val_rmse), name


def test_existing_run_is_not_overwritten(rec, tmp_path):
    train(small(rec, tmp_path / "r", model="mean", epochs=1))
    with pytest.raises(TimesteerError, match="already holds a training run"):
        train(small(rec, tmp_path / "r", model="mean", epochs=1))


def test_corrupt_checkpoint_is_a_clear_error(rec, tmp_path):
    train(small(rec, tmp_path / "r", model="mean", epochs=1))
    (tmp_path / "r" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TimesteerError, match=r"last\.pt: not a readable timesteer checkpoint"):
        train(small(rec, tmp_path / "r", model="mean", epochs=2), resume=True)


def test_cli_train_and_resume_with_more_epochs(rec, tmp_path, capsys):
    out = tmp_path / "cli"
    code, stdout, err = run_cli("train", "--data", rec, "--model", "pilotnet", "--out", out, "--epochs", "1",
                                "--batch-frames", "32", "--quiet", "--no-tensorboard", capsys=capsys)
    assert code == 0, err
    assert "1 epochs" in stdout
    code, stdout, err = run_cli("train", "--resume", out, "--epochs", "2", "--quiet", capsys=capsys)
    assert code == 0, err
    assert len(read_metrics(out)) == 2
    code, _, err = run_cli("train", "--resume", out, "--lr", "0.1", capsys=capsys)
    assert code == 2 and "--lr" in err
    code, _, err = run_cli("train", "--data", rec, "--out", tmp_path / "x", "--model-config", '{"hiden": 3}',
                           capsys=capsys)
    assert code == 2 and "unknown key 'hiden'" in err


def test_a_short_recording_trains_with_the_lanes_it_can_fill(tmp_path):
    rec = make_recording(tmp_path / "tiny", n=40)
    train(TrainConfig(data=str(rec), out=str(tmp_path / "run"), model="pilotnet", epochs=1, progress=False,
                      tensorboard=False))
    lanes = json.loads((tmp_path / "run" / "run.json").read_text())["schedule"]["lanes"]
    assert 0 < lanes <= 32  # 32 training frames, one per lane, not the default 256


def test_side_cameras_join_training_with_a_steering_offset(tmp_path):
    from tests.helpers import write_udacity_sim
    from timesteer.data import ImportConfig, import_recording

    src = write_udacity_sim(tmp_path / "sim", n=80)
    rec = import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "rec"), camera="all",
                                        progress=False))
    train(TrainConfig(data=str(rec), out=str(tmp_path / "run"), model="pilotnet", epochs=1, batch_frames=16,
                      progress=False, tensorboard=False))
    data = json.loads((tmp_path / "run" / "run.json").read_text())["data"]
    assert data["cameras_used"] == 3
    assert data["side_offset"] == pytest.approx(5 / 25)  # 5 degrees in the simulator's unit (1 = 25 degrees)


def test_stateless_windows_with_burn_in(rec, tmp_path):
    result = train(small(rec, tmp_path / "w", model="cnn_gru", epochs=1, stateful=False, seq_len=8, burn_in=4))
    schedule = json.loads((tmp_path / "w" / "run.json").read_text())["schedule"]
    assert schedule["stateful"] is False and schedule["warmup"] == 4 and schedule["seq_len"] == 8
    assert np.isfinite(result.best_val_rmse)
