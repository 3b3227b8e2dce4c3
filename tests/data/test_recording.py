"""Recordings on disk: segments, manifest checks, memory-mapped frames, info."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from tests.helpers import make_recording
from timesteer.data import Recording, recording_info
from timesteer.data.segments import default_gap_threshold_s, frame_rate, segment_ids, split_segments
from timesteer.errors import InputError


def test_split_segments_at_gaps_and_forced_breaks():
    t = np.array([0.0, 0.1, 0.2, 1.5, 1.6, 1.7, 1.8, 1.9])
    segs = split_segments(t, gap_threshold_s=0.5, forced_breaks=np.array([5]))
    assert [(s.start, s.stop) for s in segs] == [(0, 3), (3, 5), (5, 8)]
    # Duration counts one period per frame: 3 frames at 10 Hz last 0.3 s.
    assert segs[0].duration_s == pytest.approx(0.3)
    assert list(segment_ids(segs, 8)) == [0, 0, 0, 1, 1, 2, 2, 2]
    assert frame_rate(t, np.array([0, 3, 5])) == pytest.approx(10.0)


def test_default_gap_threshold_is_five_periods_but_at_least_half_a_second():
    assert default_gap_threshold_s(np.arange(10) * 0.05) == pytest.approx(0.5)
    assert default_gap_threshold_s(np.arange(10) * 0.2) == pytest.approx(1.0)


def test_recording_opens_memory_mapped_and_validates(tmp_path):
    rec_path = make_recording(tmp_path / "rec", n=30, segments=3)
    rec = Recording.open(rec_path)
    assert isinstance(rec.frames, np.memmap)
    assert len(rec.segments) == 3 and sum(s.frames for s in rec.segments) == 30
    manifest = json.loads((rec_path / "manifest.json").read_text())
    assert manifest["format"] == "timesteer.recording" and manifest["format_version"] == 1
    assert {"source", "frame", "fps", "steering", "cameras", "segments", "frames", "created_at"} <= set(manifest)
    # A manifest that no longer matches its frames is refused, naming the file.
    manifest["frames"] = 31
    (rec_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"manifest.json.*segments cover 30 frames"):
        Recording.open(rec_path)


def test_unknown_manifest_key_is_refused(tmp_path):
    rec_path = make_recording(tmp_path / "rec", n=10)
    manifest = json.loads((rec_path / "manifest.json").read_text())
    manifest["fsp"] = 10
    (rec_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="unknown key 'fsp'"):
        Recording.open(rec_path)


def test_info_reports_statistics(tmp_path):
    rec_path = make_recording(tmp_path / "rec", n=20)
    info = recording_info(rec_path)
    steer = Recording.open(rec_path).steering
    assert info["frames"] == 20 and info["segments"] == 1
    assert info["steering_std"] == pytest.approx(np.std(steer))
    assert info["steering_zero_fraction"] == pytest.approx(np.mean(steer == 0))
    assert info["size_bytes"] > 20 * 48 * 64 * 3


def test_import_memory_does_not_grow_with_frames(tmp_path):
    """Python-heap peak while importing 200 vs 1000 frames: frames stream to disk through a bounded window
    of decoded chunks, so the difference stays far below what holding the extra 800 frames would take
    (what remains is the per-row log metadata). The window (2 chunks per worker, 32 frames each) can be
    full in one run and not the other: at most 5 chunks, 5.9 MB here, under a quarter of 800 frames."""
    from tests.helpers import write_udacity_sim
    from timesteer.data import ImportConfig, import_recording

    peaks = {}
    for n in (200, 1000):
        src = write_udacity_sim(tmp_path / f"sim{n}", n=n, size=(96, 128))
        tracemalloc.start()
        import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / f"rec{n}"), workers=2, progress=False))
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    extra_frames_bytes = 800 * 96 * 128 * 3
    assert peaks[1000] - peaks[200] < 0.25 * extra_frames_bytes, (peaks, extra_frames_bytes)
