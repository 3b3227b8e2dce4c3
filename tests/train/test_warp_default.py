"""Time warp is `cnn_gru`'s default and no other model's, off where every recording was driven under
disturbances: settled when a run starts, written into the run, trained with exactly as if asked for, kept
by `--resume`, and never over what the user set."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.helpers import make_recording
from timesteer.data.augment import AugmentConfig
from timesteer.data.recording import Recording
from timesteer.errors import TimesteerError
from timesteer.train import TrainConfig, train
from timesteer.train.checkpoint import load_checkpoint, save_checkpoint
from timesteer.train.warp_default import DEFAULT_TIME_WARP, default_time_warp, driven_disturbed


def _cfg(rec, out, model="cnn_gru", augment=None, **kw):
    kw = {"epochs": 1, "progress": False, **kw}
    data = rec if isinstance(rec, list) else str(rec)
    return TrainConfig(data=data, out=str(out), model=model, threads=1, max_steps_per_epoch=2, batch_frames=32,
                       tensorboard=False, augment=augment or AugmentConfig(), **kw)


def _warp_of(run) -> float | None:
    return json.loads((run / "run.json").read_text())["config"]["augment"]["time_warp"]


def _weights(run):
    return load_checkpoint(run / "last.pt")["model"]["state_dict"]


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recording(tmp_path_factory.mktemp("warp") / "rec", n=160)


def test_the_default_is_undecided_until_training_settles_it_per_model():
    assert AugmentConfig().time_warp is None
    assert default_time_warp("cnn_gru") == 1.0
    for model in ("pilotnet", "diffnet", "cnn_lstm", "rnn", "conv3d_lstm", "mean"):
        assert default_time_warp(model) == 0.0, model
    assert set(DEFAULT_TIME_WARP) == {"cnn_gru"}, "a model's default changes only with a measurement"


def test_each_run_writes_down_what_it_trained_with(rec, tmp_path, capsys):
    train(_cfg(rec, tmp_path / "gru"))
    train(_cfg(rec, tmp_path / "diff", "diffnet"))
    train(_cfg(rec, tmp_path / "one", "pilotnet"))
    train(_cfg(rec, tmp_path / "gru-off", augment=AugmentConfig(time_warp=0.0)))
    train(_cfg(rec, tmp_path / "diff-on", "diffnet", augment=AugmentConfig(time_warp=0.5)))
    assert _warp_of(tmp_path / "gru") == 1.0
    assert _warp_of(tmp_path / "diff") == 0.0
    assert _warp_of(tmp_path / "one") == 0.0
    assert _warp_of(tmp_path / "gru-off") == 0.0, "the user's 0 is kept"
    assert _warp_of(tmp_path / "diff-on") == 0.5, "and so is a number for a model whose default is off"
    for run in ("gru", "diff", "gru-off"):
        saved = load_checkpoint(tmp_path / run / "last.pt")["train_config"]["augment"]["time_warp"]
        assert saved == _warp_of(tmp_path / run)
    # The run says so where the user reads it, and only where the default turned it on.
    capsys.readouterr()
    train(_cfg(rec, tmp_path / "said", progress=True))
    train(_cfg(rec, tmp_path / "quiet", progress=True, augment=AugmentConfig(time_warp=1.0)))
    out = capsys.readouterr().out
    assert out.count("time warp on 100% of each drive") == 1
    assert "--augment '{\"time_warp\": 0}' turns it off" in out


def test_the_default_trains_exactly_as_asking_for_it_and_not_as_without(rec, tmp_path):
    train(_cfg(rec, tmp_path / "default", seed=3))
    train(_cfg(rec, tmp_path / "asked", seed=3, augment=AugmentConfig(time_warp=1.0)))
    train(_cfg(rec, tmp_path / "off", seed=3, augment=AugmentConfig(time_warp=0.0)))
    a, b, c = (_weights(tmp_path / r) for r in ("default", "asked", "off"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a), "time warp changed what the model was shown"


def test_resume_keeps_what_the_checkpoint_trained_with(rec, tmp_path):
    # A cnn_gru run trained without time warp, resumed from Python with the default (None): it goes on
    # without, as its checkpoint did, instead of being refused as another run's.
    train(_cfg(rec, tmp_path / "off", augment=AugmentConfig(time_warp=0.0)))
    again = train(_cfg(rec, tmp_path / "off", epochs=2), resume=True)
    assert again.history[-1]["epoch"] == 2
    assert _warp_of(tmp_path / "off") == 0.0
    # One trained with the default goes on with it.
    train(_cfg(rec, tmp_path / "on"))
    assert train(_cfg(rec, tmp_path / "on", epochs=2), resume=True).history[-1]["epoch"] == 2
    assert _warp_of(tmp_path / "on") == 1.0
    # A number other than the checkpoint's is another run's settings: refused, naming the setting.
    with pytest.raises(TimesteerError, match="augment"):
        train(_cfg(rec, tmp_path / "on", epochs=3, augment=AugmentConfig(time_warp=0.5)), resume=True)


def test_a_checkpoint_older_than_the_option_resumes_without_time_warp(rec, tmp_path):
    run = tmp_path / "old"
    train(_cfg(rec, run, augment=AugmentConfig(time_warp=0.0)))
    # Make it look like a run from before `time_warp` existed: neither run.json nor last.pt names it.
    info = json.loads((run / "run.json").read_text())
    del info["config"]["augment"]["time_warp"]
    (run / "run.json").write_text(json.dumps(info))
    payload = load_checkpoint(run / "last.pt")
    del payload["train_config"]["augment"]["time_warp"]
    save_checkpoint(run / "last.pt", payload)
    again = train(_cfg(rec, run, epochs=2), resume=True)
    assert again.history[-1]["epoch"] == 2
    assert _warp_of(run) == 0.0


def _driven_under(rec, dest, noise):
    """A copy of `rec` whose manifest says it was driven with steering disturbances of `noise` (what
    record-sim writes for its conditions)."""
    shutil.copytree(rec, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["source"]["details"]["conditions"] = {"noise": noise, "latency_ms": 100.0}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_off_where_every_recording_was_driven_under_disturbances(rec, tmp_path, capsys):
    noisy = _driven_under(rec, tmp_path / "noisy", 0.6)
    noisy2 = _driven_under(rec, tmp_path / "noisy2", 0.3)
    calm = _driven_under(rec, tmp_path / "calm", 0.0)  # latency only: no pushes recorded
    assert driven_disturbed(Recording.open(noisy)) and not driven_disturbed(Recording.open(calm))
    assert not driven_disturbed(Recording.open(rec)), "an import that does not say counts as clean"
    capsys.readouterr()
    train(_cfg(noisy, tmp_path / "n", progress=True))
    train(_cfg([str(noisy), str(noisy2)], tmp_path / "nn"))
    assert _warp_of(tmp_path / "n") == 0.0
    assert _warp_of(tmp_path / "nn") == 0.0
    # What it validates on does not count: only the recordings it trains on.
    train(_cfg(noisy, tmp_path / "v", val=str(rec)))
    assert _warp_of(tmp_path / "v") == 0.0
    out = capsys.readouterr().out
    assert "no time warp, since every recording was driven under steering disturbances" in out
    assert "--augment '{\"time_warp\": 1}' turns it on" in out
    # Clean, latency-only, and a mix of clean and disturbed keep the default; the user's number wins.
    train(_cfg(calm, tmp_path / "c"))
    train(_cfg([str(noisy), str(rec)], tmp_path / "mix"))
    train(_cfg(noisy, tmp_path / "asked", augment=AugmentConfig(time_warp=1.0)))
    assert _warp_of(tmp_path / "c") == 1.0
    assert _warp_of(tmp_path / "mix") == 1.0
    assert _warp_of(tmp_path / "asked") == 1.0
    # A resumed run keeps what its checkpoint trained with (the rule is not asked again).
    train(_cfg(rec, tmp_path / "r"))
    again = train(_cfg(rec, tmp_path / "r", epochs=2), resume=True)
    assert again.history[-1]["epoch"] == 2 and _warp_of(tmp_path / "r") == 1.0
