"""Typed configs: unknown keys and wrong types are errors that name the key."""

from __future__ import annotations

import pytest

from timesteer.config import from_dict, to_dict
from timesteer.errors import ConfigError
from timesteer.train import TrainConfig


def test_defaults_and_round_trip():
    cfg = from_dict(TrainConfig, {"data": "REC", "out": "RUN", "augment": {"flip": 0.0}})
    assert cfg.epochs == 30 and cfg.augment.flip == 0.0 and cfg.augment.brightness == 0.25
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


@pytest.mark.parametrize(("data", "message"), [
    ({"data": "R", "out": "O", "epoch": 3}, "unknown key 'epoch'"),
    ({"data": "R", "out": "O", "epochs": "3"}, r"train\.epochs: expected an integer"),
    ({"data": "R", "out": "O", "epochs": True}, r"train\.epochs: expected an integer"),
    ({"data": "R", "out": "O", "lr": "fast"}, r"train\.lr: expected a number"),
    ({"data": "R", "out": "O", "device": "tpu"}, r"train\.device: expected one of"),
    ({"data": "R", "out": "O", "augment": {"flips": 1}}, r"train\.augment: unknown key 'flips'"),
    ({"data": "R", "out": "O", "stateful": "yes"}, r"train\.stateful: expected true or false"),
])
def test_bad_keys_and_types_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, data, where="train")


def test_ints_are_accepted_as_floats_and_none_where_optional():
    cfg = from_dict(TrainConfig, {"data": "R", "out": "O", "lr": 1, "seq_len": None, "val": None})
    assert isinstance(cfg.lr, float) and cfg.seq_len is None
