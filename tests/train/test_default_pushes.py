"""Pushes made in the picture are the default for the models that use time, where the recording knows its
camera's view and speed: on for them, off for a single frame and for recordings without a view, and the run
writes down which, so `--resume` and `eval` read what training did."""

from __future__ import annotations

import json

import pytest

from tests.helpers import make_recording
from timesteer.data.augment import DEFAULT_PUSH_RATE_HZ, AugmentConfig
from timesteer.errors import InputError
from timesteer.train import TrainConfig, train
from timesteer.train.dataset import load_train_data

VIEW = {"pivot_row_px": 40.0, "pivot_col_px": 31.5, "px_per_m_across": 2.0, "px_per_m_along": 2.0,
        "wheelbase_m": 3.0, "fixed_px": None}


def _with_view(rec):
    manifest = json.loads((rec / "manifest.json").read_text())
    manifest["view"] = VIEW
    (rec / "manifest.json").write_text(json.dumps(manifest))
    return rec


def _pushes_of(run) -> float | None:
    return json.loads((run / "run.json").read_text())["config"]["augment"]["push_rate_hz"]


def _train(rec, out, model, augment=None, **kw):
    cfg = TrainConfig(data=str(rec), out=str(out), model=model, epochs=1, threads=1, max_steps_per_epoch=2,
                      batch_frames=32, progress=False, tensorboard=False, augment=augment or AugmentConfig(), **kw)
    return train(cfg)


def test_the_default_is_undecided_until_training_settles_it():
    assert AugmentConfig().push_rate_hz is None
    assert DEFAULT_PUSH_RATE_HZ > 0


def test_on_for_a_model_that_uses_time_off_for_one_frame_and_where_no_view_is_known(tmp_path):
    rec = _with_view(make_recording(tmp_path / "rec", n=160))
    plain = make_recording(tmp_path / "plain", n=160)
    cfg = TrainConfig(data=str(rec), out=str(tmp_path / "x"))
    assert load_train_data(cfg, (), time_model=True).pushes is not None
    assert load_train_data(cfg, (), time_model=False).pushes is None
    # No view: the default quietly stays off (an explicit rate is an error, below).
    assert load_train_data(TrainConfig(data=str(plain), out=str(tmp_path / "y")), (), time_model=True).pushes is None
    # A recording with a view and one without, together: the pushes need every training drive to have one.
    both = TrainConfig(data=[str(rec), str(plain)], out=str(tmp_path / "z"))
    assert load_train_data(both, (), time_model=True).pushes is None

    _train(rec, tmp_path / "gru", "cnn_gru")
    _train(rec, tmp_path / "diff", "diffnet")
    _train(rec, tmp_path / "one", "pilotnet")
    _train(plain, tmp_path / "gru-plain", "cnn_gru")
    assert _pushes_of(tmp_path / "gru") == DEFAULT_PUSH_RATE_HZ
    assert _pushes_of(tmp_path / "diff") == DEFAULT_PUSH_RATE_HZ
    assert _pushes_of(tmp_path / "one") == 0.0
    assert _pushes_of(tmp_path / "gru-plain") == 0.0


def test_asked_for_they_are_kept_or_refused_as_before(tmp_path):
    rec = _with_view(make_recording(tmp_path / "rec", n=160))
    plain = make_recording(tmp_path / "plain", n=160)
    _train(rec, tmp_path / "off", "cnn_gru", AugmentConfig(push_rate_hz=0.0))
    _train(rec, tmp_path / "one", "pilotnet", AugmentConfig(push_rate_hz=1.0))
    assert _pushes_of(tmp_path / "off") == 0.0
    assert _pushes_of(tmp_path / "one") == 1.0
    with pytest.raises(InputError, match="view") as err:
        _train(plain, tmp_path / "refused", "cnn_gru", AugmentConfig(push_rate_hz=0.5))
    assert str(plain) in str(err.value)
    assert not (tmp_path / "refused").exists(), "refused before anything was written"


def test_a_run_with_the_default_resumes_and_trains_on(tmp_path):
    rec = _with_view(make_recording(tmp_path / "rec", n=160))
    first = _train(rec, tmp_path / "gru", "cnn_gru")
    assert first.epochs_done == 1
    cfg = TrainConfig(data=str(rec), out=str(tmp_path / "gru"), model="cnn_gru", epochs=2, threads=1,
                      max_steps_per_epoch=2, batch_frames=32, progress=False, tensorboard=False)
    again = train(cfg, resume=True)
    assert [row["epoch"] for row in again.history][-1] == 2
    assert _pushes_of(tmp_path / "gru") == DEFAULT_PUSH_RATE_HZ
