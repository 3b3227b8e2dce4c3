"""Many drives in: what --data names, and frames of several recordings read through one index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import make_recording
from timesteer.data import Recording
from timesteer.data.drives import FrameBank, check_fit, resolve_drives
from timesteer.errors import InputError


def test_frame_bank_reads_across_recordings_like_one_array():
    a = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    b = (np.arange(3 * 2 * 2 * 3, dtype=np.uint8) + 100).reshape(3, 2, 2, 3)
    bank, whole = FrameBank([a, b]), np.concatenate([a, b])
    assert bank.shape == whole.shape and len(bank) == 8
    idx = np.array([[0, 4, 5], [7, 6, 1]])
    np.testing.assert_array_equal(bank[idx], whole[idx])
    np.testing.assert_array_equal(bank[6], whole[6])
    np.testing.assert_array_equal(bank[3:7], whole[3:7])


def test_recordings_directories_and_dataset_files(tmp_path):
    a = make_recording(tmp_path / "drives" / "a", n=30)
    b = make_recording(tmp_path / "drives" / "b", n=30)
    for src in (tmp_path / "drives").glob("*-src"):  # the synthetic sources beside them are not recordings
        assert not (src / "manifest.json").exists()
    assert [e.path for e in resolve_drives([str(a)])] == [str(a)]
    assert [e.path for e in resolve_drives([str(tmp_path / "drives")])] == [str(a), str(b)]
    (tmp_path / "set.toml").write_text('[[recordings]]\npath = "drives/a"\n\n[[recordings]]\npath = "drives/b"\n'
                                       'weight = 2.5\nval_fraction = 0.0\n')
    entries = resolve_drives([str(tmp_path / "set.toml")])
    assert [(e.weight, e.val_fraction) for e in entries] == [(1.0, None), (2.5, 0.0)]
    assert entries[1].path == str(tmp_path / "drives" / "b")
    (tmp_path / "set.json").write_text(json.dumps({"recordings": ["drives/a", {"path": "drives/b", "weight": 0}]}))
    assert [e.weight for e in resolve_drives([str(tmp_path / "set.json")])] == [1.0, 0.0]


@pytest.mark.parametrize(("content", "message"), [
    ('{"recordings": []}', "expected a list"),
    ('{"recordings": [{"path": "a", "weight": -1}]}', "weight"),
    ('{"recordings": [{"path": "a", "speed": 2}]}', "unknown key 'speed'"),
    ('{"recordings": [{"path": "a", "val_fraction": 1.5}]}', "val_fraction"),
    ("not json", "expected a dataset file"),
])
def test_bad_dataset_files_name_the_file_and_the_key(tmp_path, content, message):
    (tmp_path / "set.json").write_text(content)
    with pytest.raises(InputError, match=message) as err:
        resolve_drives([str(tmp_path / "set.json")])
    assert "set.json" in str(err.value)


def test_a_recording_named_twice_or_missing(tmp_path):
    a = make_recording(tmp_path / "a", n=20)
    with pytest.raises(InputError, match="named twice"):
        resolve_drives([str(a), str(a)])
    with pytest.raises(InputError, match="recording not found"):
        resolve_drives([str(tmp_path / "nope")])
    with pytest.raises(InputError, match="holds no recording"):
        resolve_drives([str(tmp_path / "a-src" / "IMG")])


def test_recordings_that_do_not_fit_together_name_both(tmp_path):
    from timesteer.data import ImportConfig, import_recording

    a = make_recording(tmp_path / "a", n=20)
    small = import_recording(ImportConfig("udacity-sim", str(tmp_path / "a-src"), str(tmp_path / "small"),
                                          size=(24, 32), progress=False))
    cropped = import_recording(ImportConfig("udacity-sim", str(tmp_path / "a-src"), str(tmp_path / "cropped"),
                                            size=(48, 64), crop=(4, 4), progress=False))
    for other, what in ((small, "24x32"), (cropped, "--crop 4,4")):
        with pytest.raises(InputError, match=what) as err:
            check_fit(Recording.open(a), Recording.open(other))
        assert str(a) in str(err.value) and str(other) in str(err.value)
