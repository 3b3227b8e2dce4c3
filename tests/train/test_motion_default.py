"""The default of what a model's motion is measured against: per distance for a wheel angle with the
speed recorded, per second for a turn rate, as read otherwise; settled once when a run starts, written
into the run, kept by `--resume` and `--init`, and never over what the user set."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.helpers import make_recording, write_donkey_tub
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.models import create_model
from timesteer.train import TrainConfig, train
from timesteer.train.motion_default import PER_DISTANCE, PER_SECOND, choose_from_recordings, default_motion
from timesteer.train.run import load_run


def _kind(path, kind):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["steering"]["kind"] = kind
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def _cfg(rec, out, model="cnn_gru", **kw):
    kw = {"epochs": 1, **kw}
    return TrainConfig(data=str(rec) if not isinstance(rec, list) else [str(r) for r in rec], out=str(out),
                       model=model, threads=1, max_steps_per_epoch=2, batch_frames=32, progress=False,
                       tensorboard=False, **kw)


def _model(run):
    return load_run(run).model


def _model_config(run):
    return json.loads((run / "run.json").read_text())["config"]["model_config"]


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    angle = make_recording(root / "angle", n=120)  # udacity-sim: a wheel angle, the speed recorded
    rate = _kind(make_recording(root / "rate", n=120), "turn_rate")
    unknown = make_recording(root / "unknown", n=120)
    manifest = json.loads((unknown / "manifest.json").read_text())
    manifest["steering"].pop("kind")
    manifest["source"]["format"] = "video"
    (unknown / "manifest.json").write_text(json.dumps(manifest))
    tub = import_recording(ImportConfig("donkey", str(write_donkey_tub(root / "tub", n=12)), str(root / "tub-rec"),
                                        progress=False))  # a servo angle, no speed
    return {"angle": angle, "rate": rate, "unknown": unknown, "tub": tub}


@pytest.mark.parametrize(("which", "option"), [
    (["angle"], PER_DISTANCE), (["rate"], PER_SECOND), (["unknown"], None), (["tub"], None),
    (["angle", "rate"], None), (["angle", "unknown"], None), (["angle", "angle"], PER_DISTANCE),
])
def test_the_choice_follows_what_the_steering_sets(recs, which, option):
    choice = choose_from_recordings([Recording.open(recs[w]) for w in which])
    assert choice.option == option and choice.reason


def test_a_speed_that_is_no_speed_leaves_the_motion_as_read(recs, tmp_path):
    import csv
    import shutil

    path = tmp_path / "still"
    shutil.copytree(recs["angle"], path)
    with open(path / "signals.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["speed"] = "0"
    with open(path / "signals.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    choice = choose_from_recordings([Recording.open(path)])
    assert choice.option is None and "speed" in choice.reason


def test_training_writes_the_choice_into_the_run_and_the_model(recs, tmp_path):
    train(_cfg(recs["angle"], tmp_path / "gru"))
    assert _model_config(tmp_path / "gru") == {PER_DISTANCE: True}
    model = _model(tmp_path / "gru")
    assert model.distance_input and not model.distance_per_second
    train(_cfg(recs["rate"], tmp_path / "diff", model="diffnet"))
    assert _model_config(tmp_path / "diff") == {PER_SECOND: True}
    assert _model(tmp_path / "diff").distance_per_second
    train(_cfg(recs["unknown"], tmp_path / "plain"))
    assert _model_config(tmp_path / "plain") == {} and not _model(tmp_path / "plain").distance_input


def test_what_the_user_set_is_kept(recs, tmp_path):
    off = _cfg(recs["angle"], tmp_path / "off", model_config={PER_DISTANCE: False})
    assert default_motion(off)[0].model_config == {PER_DISTANCE: False}
    # Ruling per distance out does not turn per second on for a wheel angle.
    assert default_motion(off)[1].option is None
    on = _cfg(recs["unknown"], tmp_path / "on", model_config={PER_SECOND: True})
    assert default_motion(on) == (on, None)
    # Models without motion to scale, and single frames, are left alone (no error for the plain recurrent one).
    for model, extra in (("pilotnet", {}), ("cnn_gru", {"motion_frames": 1, "shift_bands": 0}),
                         ("conv3d_lstm", {}), ("mean", {})):
        cfg = _cfg(recs["angle"], tmp_path / model, model=model, model_config=extra)
        assert default_motion(cfg) == (cfg, None)
    assert not create_model("cnn_gru").distance_input  # built outside training: neither


def test_resume_and_init_keep_what_the_checkpoint_was_trained_with(recs, tmp_path):
    # A run made before this default (trained with the motion as read, its config silent): resumed, it
    # stays as it was, and its config is not changed under `--resume`'s check.
    old = _cfg(recs["angle"], tmp_path / "old", model_config={PER_DISTANCE: False}, epochs=2)
    train(replace(old, epochs=1))
    silent = replace(old, model_config={})
    cfg, choice = default_motion(silent, resume=True)
    assert cfg.model_config == {} and choice is not None and choice.option is None and "old" in choice.reason
    # Starting from its weights (`--init`) on data that would choose per distance: the weights' choice wins.
    cfg, choice = default_motion(_cfg(recs["angle"], tmp_path / "fine", init=str(tmp_path / "old")))
    assert cfg.model_config == {} and choice.option is None
    train(_cfg(recs["angle"], tmp_path / "fine", init=str(tmp_path / "old")))
    assert not _model(tmp_path / "fine").distance_input
    # A run that chose per distance, resumed from a config that does not say it (as DAgger resumes).
    train(_cfg(recs["angle"], tmp_path / "new", epochs=1))
    cfg, choice = default_motion(_cfg(recs["unknown"], tmp_path / "new"), resume=True)
    assert cfg.model_config == {PER_DISTANCE: True} and choice.option == PER_DISTANCE
    result = train(_cfg(recs["angle"], tmp_path / "new", epochs=2), resume=True)
    assert result.epochs_done == 2 and _model(tmp_path / "new").distance_input
