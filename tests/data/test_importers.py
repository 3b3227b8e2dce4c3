"""Every import format, on small fixtures the tests write in that format's exact layout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import (
    blocks,
    ramp,
    run_cli,
    steering_wave,
    synthetic_frame,
    write_deeptesla,
    write_donkey_tub,
    write_sully,
    write_udacity_challenge,
    write_udacity_sim,
    write_video,
)
from timesteer.data import ImportConfig, Recording, import_recording


def test_udacity_sim_windows_paths_timestamps_and_segments(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=20, gaps_after=(9,))
    rec = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "rec"),
                                                       progress=False)))
    assert len(rec) == 20
    assert rec.frames.shape == (20, 48, 64, 3) and rec.frames.dtype == np.uint8
    assert isinstance(rec.frames, np.memmap)
    np.testing.assert_allclose(rec.steering, steering_wave(20))
    # 100 ms apart, with a 3 s gap after frame 9: two segments of 10 frames, 10 fps.
    assert [(s.start, s.stop) for s in rec.segments] == [(0, 10), (10, 20)]
    assert rec.manifest.fps == pytest.approx(10.0, rel=1e-3)
    assert rec.timestamps_s[1] == pytest.approx(0.1, abs=1e-6)
    assert rec.timestamps_s[10] - rec.timestamps_s[9] == pytest.approx(3.0, abs=1e-6)
    assert rec.manifest.steering.unit == "normalized"
    assert rec.manifest.steering.to_rad == pytest.approx(np.radians(25))
    assert set(rec.signals) >= {"speed", "throttle", "brake", "segment"}
    assert list(rec.signals["segment"]) == [0] * 10 + [1] * 10
    # The stored frame is the decoded JPEG: much closer to the frame drawn for it than to its neighbour's.
    def distance(i: int) -> float:
        return float(np.abs(rec.frames[3].astype(int) - synthetic_frame(steering_wave(20)[i], seed=i)).mean())

    assert distance(3) < 3 and distance(3) < 0.3 * distance(8)


def test_udacity_sim_header_extra_columns_unix_paths(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=6, header=True, windows_paths=False, extra_columns=True)
    rec = Recording.open(import_recording(ImportConfig("udacity-sim", str(src / "driving_log.csv"),
                                                       str(tmp_path / "rec"), progress=False)))
    assert len(rec) == 6 and len(rec.segments) == 1


def test_udacity_sim_all_cameras_and_resize_crop(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=8)
    rec = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "rec"),
                                                       size=(20, 40), crop=(8, 4), camera="all", progress=False)))
    assert [c.name for c in rec.manifest.cameras] == ["center", "left", "right"]
    assert [c.side for c in rec.manifest.cameras] == ["center", "left", "right"]
    for cam in ("center", "left", "right"):
        assert rec.camera_frames(cam).shape == (8, 20, 40, 3)
    g = rec.manifest.frame
    assert (g.source_height, g.source_width, g.crop_top, g.crop_bottom) == (48, 64, 8, 4)
    # Left and right views are drawn with the road shifted: they must differ from the centre view.
    assert np.abs(rec.camera_frames("left")[0].astype(int) - rec.frames[0].astype(int)).mean() > 1


def test_udacity_challenge_keeps_center_camera(tmp_path):
    src = write_udacity_challenge(tmp_path / "udc", n=12)
    rec = Recording.open(import_recording(ImportConfig("udacity", str(src), str(tmp_path / "rec"), progress=False)))
    assert len(rec) == 12
    assert rec.manifest.steering.unit == "rad"
    np.testing.assert_allclose(rec.steering, steering_wave(12) * 0.3)
    assert rec.timestamps_s[1] == pytest.approx(0.05, abs=1e-6)
    np.testing.assert_allclose(rec.signals["speed"], 10 + np.arange(12) * 0.1, atol=1e-6)
    assert "torque" in rec.signals
    left = Recording.open(import_recording(ImportConfig("udacity", str(src), str(tmp_path / "left"),
                                                        camera="left_camera", progress=False)))
    assert left.manifest.cameras[0].name == "left_camera"


def test_deeptesla_video_and_csv(tmp_path):
    src = write_deeptesla(tmp_path / "dt", n=15)
    rec = Recording.open(import_recording(ImportConfig("deeptesla", str(src), str(tmp_path / "rec"),
                                                       size=(24, 32), progress=False)))
    assert len(rec) == 15
    assert rec.frames.shape == (15, 24, 32, 3)
    assert rec.manifest.steering.unit == "deg_wheel"
    np.testing.assert_allclose(rec.steering, ramp(15) * 20)
    assert rec.manifest.fps == pytest.approx(30.0, rel=1e-3)
    # The CSV path alone finds its video too.
    again = import_recording(ImportConfig("deeptesla", str(src / "epoch01_steering.csv"), str(tmp_path / "rec2"),
                                          size=(24, 32), progress=False))
    np.testing.assert_array_equal(Recording.open(again).frames, rec.frames)
    # Decoded frames follow the video: frame 7 looks most like the picture drawn for frame 7 (or a neighbour,
    # whose road sits within a pixel or two).
    full = Recording.open(import_recording(ImportConfig("deeptesla", str(src), str(tmp_path / "full"),
                                                        progress=False)))
    drawn = [blocks(synthetic_frame(s, 48, 64, seed=i)) for i, s in enumerate(ramp(15))]
    for i in (0, 7, 14):
        assert int(np.argmin([np.abs(blocks(full.frames[i]) - d).mean() for d in drawn])) == i


def test_video_with_timestamps_interpolates_signals(tmp_path):
    frames = [synthetic_frame(0.0, seed=i) for i in range(20)]
    video = write_video(tmp_path / "drive.mp4", frames, fps=10)
    # CSV at 4 Hz from 0.5 s to 1.5 s: frames at 0.5, 0.6 ... 1.5 s are kept (11), others dropped.
    t = np.arange(0.5, 1.51, 0.25)
    lines = ["timestamp_s,steering,speed"] + [f"{x:.2f},{2 * x:.3f},{10 + x:.3f}" for x in t]
    (tmp_path / "drive.csv").write_text("\n".join(lines) + "\n")
    rec = Recording.open(import_recording(ImportConfig("video", str(video), str(tmp_path / "rec"), progress=False)))
    assert len(rec) == 11
    # steering = 2 * absolute time, linearly interpolated to the frame times 0.5, 0.6, ...
    np.testing.assert_allclose(rec.steering, 2 * (0.5 + 0.1 * np.arange(11)), atol=1e-6)
    np.testing.assert_allclose(rec.signals["speed"], 10.5 + 0.1 * np.arange(11), atol=1e-6)
    assert rec.manifest.source.details["dropped_frames"] == 9


def test_video_with_frame_indexes(tmp_path):
    video = write_video(tmp_path / "v.mkv", [synthetic_frame(0.1 * i, seed=i) for i in range(10)], fps=20)
    csv = tmp_path / "labels.csv"
    csv.write_text("frame_index,steering\n" + "\n".join(f"{i},{0.1 * i:.2f}" for i in range(2, 10, 2)) + "\n")
    rec = Recording.open(import_recording(ImportConfig("video", str(video), str(tmp_path / "rec"), csv=str(csv),
                                                       steering_unit="deg_wheel", progress=False)))
    assert len(rec) == 4
    np.testing.assert_allclose(rec.steering, [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(rec.timestamps_s, [0.0, 0.1, 0.2, 0.3], atol=1e-6)
    assert rec.manifest.steering.unit == "deg_wheel" and rec.manifest.steering.to_rad is None


def test_donkey_tub_deleted_indexes_and_sessions(tmp_path):
    src = write_donkey_tub(tmp_path / "tub", n=12, deleted=(3, 7), sessions=2)
    rec = Recording.open(import_recording(ImportConfig("donkey", str(src), str(tmp_path / "rec"), progress=False)))
    kept = [i for i in range(12) if i not in (3, 7)]
    assert len(rec) == 10
    np.testing.assert_allclose(rec.steering, steering_wave(12)[kept])
    # Session 0 holds indexes 0-5, session 1 indexes 6-11: a new segment where the session changes.
    assert [(s.start, s.stop) for s in rec.segments] == [(0, 5), (5, 10)]
    assert "throttle" in rec.signals


@pytest.mark.parametrize("timestamps", [False, True])
def test_sully_data_txt(tmp_path, timestamps):
    src = write_sully(tmp_path / "sully", n=10, timestamps=timestamps)
    rec = Recording.open(import_recording(ImportConfig("sully", str(src), str(tmp_path / "rec"), progress=False)))
    assert len(rec) == 10
    np.testing.assert_allclose(rec.steering, np.round(steering_wave(10) * 30, 6))
    assert rec.manifest.fps == pytest.approx(20.0 if timestamps else 30.0, rel=1e-3)


def test_cli_import_then_info_json(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=10)
    code, out, err = run_cli("import", "udacity-sim", src, tmp_path / "rec", "--size", "22x30", "--quiet",
                             capsys=capsys)
    assert code == 0, err
    assert "frames      10" in out
    code, out, _ = run_cli("info", tmp_path / "rec", "--json", capsys=capsys)
    info = json.loads(out)
    assert info["frames"] == 10 and info["segments"] == 1
    assert info["fps"] == pytest.approx(10.0, rel=1e-3)
    assert info["frame_size"] == [22, 30, 3]
    assert info["steering_std"] == pytest.approx(float(np.std(steering_wave(10))), rel=1e-6)


def test_overwrite_replaces_a_recording(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    dest = tmp_path / "rec"
    import_recording(ImportConfig("udacity-sim", str(src), str(dest), size=(10, 10), progress=False))
    import_recording(ImportConfig("udacity-sim", str(src), str(dest), size=(12, 16), overwrite=True,
                                  progress=False))
    assert Recording.open(dest).frames.shape == (6, 12, 16, 3)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_fps_resamples_to_a_slower_rate_segment_by_segment(tmp_path, capsys):
    """--fps 5 on a 10 Hz drive of two segments keeps every other frame of each, with their own times and
    labels; a rate above the source's is refused (frames are never invented)."""
    from tests.helpers import run_cli

    src = write_udacity_sim(tmp_path / "sim", n=40, gaps_after=(19,))
    full = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "full"),
                                                        progress=False)))
    half = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "half"), fps=5.0,
                                                        progress=False)))
    assert half.manifest.fps == 5.0 and len(half.segments) == 2 == len(full.segments)
    assert 18 <= len(half) <= 22
    kept = [int(np.argmin(np.abs(full.timestamps_s - t))) for t in half.timestamps_s]
    np.testing.assert_array_equal(half.steering, full.steering[kept])
    np.testing.assert_array_equal(np.asarray(half.frames), np.asarray(full.frames)[kept])
    gaps = np.diff(half.timestamps_s)[np.diff(half.signals["segment"]) == 0]
    assert np.allclose(gaps, 0.2, atol=0.011)
    assert half.manifest.source.details["resampled_to_fps"] == 5.0
    code, _, err = run_cli("import", "udacity-sim", src, tmp_path / "fast", "--fps", "30", "--quiet", capsys=capsys)
    assert code == 2 and "never invents" in err and not (tmp_path / "fast").exists()
