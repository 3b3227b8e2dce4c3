"""The video store (`import --store video`): frames as an all-intra H.264 MP4, read like the raw array."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.helpers import fails_with_one_line, run_cli, save_jpeg, synthetic_frame, write_udacity_sim
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.data.videostore import VideoFrameFile, VideoFrames, yuv_to_rgb


def _pair(tmp_path, n=40, **kw):
    src = write_udacity_sim(tmp_path / "sim", n=n, size=(66, 96))
    raw = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "raw"),
                                                       progress=False, **kw)))
    video = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "video"),
                                                         progress=False, store="video", **kw)))
    return src, raw, video


def test_a_video_recording_holds_the_same_drive_within_the_codecs_error(tmp_path):
    _, raw, video = _pair(tmp_path)
    assert [c.file for c in video.manifest.cameras] == ["frames.mp4"]
    assert not (video.path / "frames.npy").exists()
    assert video.frames.shape == raw.frames.shape and video.frames.dtype == np.uint8
    np.testing.assert_array_equal(video.steering, raw.steering)
    np.testing.assert_array_equal(video.timestamps_s, raw.timestamps_s)
    error = np.abs(np.asarray(video.frames).astype(np.float32) - np.asarray(raw.frames))
    # CRF 18 on these synthetic pictures: a few levels of 255 on average, never a different picture.
    assert error.mean() < 4.0, error.mean()
    assert np.percentile(error, 99) < 30, np.percentile(error, 99)
    assert (video.path / "frames.mp4").stat().st_size < (raw.path / "frames.npy").stat().st_size / 3


def test_video_frames_index_like_an_array(tmp_path):
    _, _, video = _pair(tmp_path, n=30)
    frames = video.frames
    every = np.asarray(frames)
    assert every.shape == (30, 66, 96, 3)
    np.testing.assert_array_equal(frames[7], every[7])
    np.testing.assert_array_equal(frames[-1], every[29])
    np.testing.assert_array_equal(frames[3:20:4], every[3:20:4])
    idx = np.array([[5, 5, 29], [0, 12, 3]])
    np.testing.assert_array_equal(frames[idx], every[idx])
    assert frames[np.zeros(0, dtype=np.int64)].shape == (0, 66, 96, 3)
    with pytest.raises(IndexError):
        frames[30]
    with pytest.raises(IndexError):
        frames[np.array([0.5])]
    # Many frames at once go through the decoding threads; the answer is the same.
    many = np.random.default_rng(0).integers(0, 30, 200)
    np.testing.assert_array_equal(frames[many], every[many])
    copy = pickle.loads(pickle.dumps(frames))
    np.testing.assert_array_equal(copy[idx], every[idx])


def test_odd_frame_sizes_and_every_camera(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=12, size=(48, 64))
    rec = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "rec"),
                                                       size=(33, 51), camera="all", store="video",
                                                       progress=False)))
    assert sorted(c.file for c in rec.manifest.cameras) == ["frames.mp4", "frames_left.mp4", "frames_right.mp4"]
    for cam in rec.manifest.cameras:
        assert np.asarray(rec.camera_frames(cam.name)).shape == (12, 33, 51, 3)


def test_broken_records_leave_every_cameras_video_aligned(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=16, size=(48, 64))
    save_jpeg(sorted((src / "IMG").glob("right_*.jpg"))[6], synthetic_frame(0.0, 50, 64))
    sorted((src / "IMG").glob("left_*.jpg"))[11].write_bytes(b"not a picture")
    raw = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "raw"),
                                                       camera="all", progress=False)))
    video = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "video"),
                                                         camera="all", store="video", progress=False)))
    assert len(video) == len(raw) == 14
    for cam in raw.manifest.cameras:
        a, b = np.asarray(raw.camera_frames(cam.name)), np.asarray(video.camera_frames(cam.name))
        assert b.shape == a.shape
        # Frame by frame, each video frame is nearest its own raw frame: nothing shifted by the holes.
        distance = np.abs(b[:, None].astype(np.float32) - a[None]).mean(axis=(2, 3, 4))
        assert (distance.argmin(axis=1) == np.arange(len(a))).all()


def test_keep_only_copies_packets_without_encoding_again(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (20, 16, 24, 3), dtype=np.uint8)
    out = VideoFrameFile(tmp_path / "f.mp4", frames.shape, fps=10)
    out.write(frames)
    out.close()
    before = np.asarray(VideoFrames(tmp_path / "f.mp4"))
    keep = np.array([0, 1, 5, 6, 7, 19])
    out.keep_only(keep)
    after = VideoFrames(tmp_path / "f.mp4", (6, 16, 24, 3))
    np.testing.assert_array_equal(np.asarray(after), before[keep])  # bit for bit: the packets themselves


def test_yuv_to_rgb_inverts_ffmpegs_conversion():
    import av

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (2, 8, 10, 3), dtype=np.uint8)
    yuv = np.stack([av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv444p").to_ndarray()
                    for f in rgb])
    back = yuv_to_rgb(yuv)
    # Limited-range YUV keeps 220 levels of luma: a round trip is off by a level or two, never more.
    assert np.abs(back.astype(int) - rgb).max() <= 3


def test_training_reads_a_video_recording(tmp_path):
    from timesteer.train import TrainConfig, train

    _, raw, video = _pair(tmp_path, n=120)
    runs = {}
    for name, rec in (("raw", raw), ("video", video)):
        runs[name] = train(TrainConfig(data=str(rec.path), out=str(tmp_path / f"run-{name}"), model="cnn_gru",
                                       epochs=2, batch_frames=32, threads=1, progress=False, tensorboard=False))
    # The same drive, a few levels of noise apart: the two runs end close, not identical.
    assert runs["video"].best_val_rmse == pytest.approx(runs["raw"].best_val_rmse, rel=0.5)
    assert runs["video"].best_val_rmse != runs["raw"].best_val_rmse


def test_a_truncated_video_is_one_line(tmp_path, capsys):
    _, _, video = _pair(tmp_path, n=12)
    path = video.path / "frames.mp4"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    fails_with_one_line(capsys, "info", video.path, mentions=("frames.mp4",))


def test_cli_store_video_prints_a_smaller_recording(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=20, size=(66, 96))
    code, out, err = run_cli("import", "udacity-sim", src, tmp_path / "rec", "--store", "video", "--quiet",
                             capsys=capsys)
    assert code == 0, err
    assert "frames      20" in out and (tmp_path / "rec" / "frames.mp4").is_file()


def test_decoded_frames_are_cached_within_a_byte_budget(tmp_path, monkeypatch):
    from timesteer.data import videostore

    _, _, video = _pair(tmp_path, n=24)
    frames = video.frames
    cache = videostore._FrameCache(10 * 66 * 96 * 3)  # room for ten frames
    monkeypatch.setattr(videostore, "CACHE", cache)
    decoded = []
    real = frames._decode
    monkeypatch.setattr(frames, "_decode", lambda i: decoded.append(i) or real(i))
    first = frames[np.arange(8)]
    assert sorted(decoded) == list(range(8)) and cache.used == 8 * 66 * 96 * 3
    again = frames[np.arange(8)]
    np.testing.assert_array_equal(again, first)
    assert len(decoded) == 8  # served from memory
    frames[np.arange(8, 20)]
    assert cache.used <= cache.budget  # the oldest went out
    decoded.clear()
    frames[np.arange(4)]
    assert decoded == [0, 1, 2, 3]  # evicted, so decoded again
