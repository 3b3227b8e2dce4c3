"""The real Udacity simulator drive beside the project (slow; skipped when absent)."""

from __future__ import annotations

import pytest

from timesteer.data import ImportConfig, Recording, import_recording, recording_info


@pytest.mark.slow
def test_import_track1_at_pilotnet_size(track1, tmp_path):
    path = import_recording(ImportConfig("udacity-sim", str(track1), str(tmp_path / "rec"), size=(66, 200),
                                         crop=(60, 20), progress=False))
    info = recording_info(path)
    assert info["frames"] == 2958
    assert info["segments"] == 1
    assert 10.5 < info["fps"] < 12.0
    assert Recording.open(path).frames.shape == (2958, 66, 200, 3)
