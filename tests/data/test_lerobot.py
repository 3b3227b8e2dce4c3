"""LeRobot datasets both ways: `import lerobot` and `convert --to lerobot`.

The datasets here are written in LeRobot's layout by the tests themselves (v3.0: several episodes end
to end in one video file, and files in chunks; v2.1: a file per episode). LeRobot itself does not install
beside timesteer's torch; `benchmarks/check_lerobot.py` checks both directions against LeRobot's own
code in its own environment (BENCHMARKS.md has the result).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import fails_with_one_line, make_recording, run_cli, synthetic_frame
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.data.lerobot_export import ConvertConfig, convert_recording

FPS = 10


def _video(path: Path, frames: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS), options={"crf": "12", "g": "2"})
        stream.height, stream.width, stream.pix_fmt = *frames[0].shape[:2], "yuv420p"
        for k, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = k
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


def write_lerobot(root: Path, lengths=(12, 9, 7), *, version: str = "v3.0", cameras=("front",),
                  action_names=("steering", "throttle"), scale: float = 1.0) -> dict[str, np.ndarray]:
    """A dataset in LeRobot's layout; returns what it holds (steering, frames of the first camera)."""
    n = sum(lengths)
    steer = np.round(np.sin(np.arange(n) * 0.3) * 0.8 * scale, 5)
    frames = [synthetic_frame(s / scale, 48, 64, seed=i) for i, s in enumerate(steer)]
    episode = np.repeat(np.arange(len(lengths)), lengths)
    frame_index = np.concatenate([np.arange(k) for k in lengths])
    features = {f"observation.images.{c}": {"dtype": "video", "shape": [48, 64, 3],
                                            "names": ["height", "width", "channels"]} for c in cameras}
    features["action"] = {"dtype": "float32", "shape": [len(action_names)], "names": list(action_names)}
    for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        features[name] = {"dtype": "float32" if name == "timestamp" else "int64", "shape": [1], "names": None}
    action = np.column_stack([steer] + [np.full(n, 0.25 * (k + 1)) for k in range(len(action_names) - 1)])
    columns = {"action": pa.FixedSizeListArray.from_arrays(pa.array(action.astype(np.float32).ravel()),
                                                           len(action_names)),
               "timestamp": pa.array((frame_index / FPS).astype(np.float32)),
               "frame_index": pa.array(frame_index), "episode_index": pa.array(episode),
               "index": pa.array(np.arange(n)), "task_index": pa.array(np.zeros(n, dtype=np.int64))}
    info = {"codebase_version": version, "robot_type": "test-car", "total_episodes": len(lengths),
            "total_frames": n, "fps": FPS, "chunks_size": 1000, "features": features}
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    if version.startswith("v2"):
        info["data_path"] = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        info["video_path"] = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        for e, (a, k) in enumerate(zip(starts, lengths, strict=True)):
            path = root / f"data/chunk-000/episode_{e:06d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({c: v.slice(a, k) for c, v in columns.items()}), path)
            for c in cameras:
                _video(root / f"videos/chunk-000/observation.images.{c}/episode_{e:06d}.mp4", frames[a:a + k])
    else:
        info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
        info["video_path"] = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
        # Episodes 0 and 1 end to end in file 0, the rest in file 1 of chunk 1: as LeRobot rolls files over.
        split = int(starts[2]) if len(lengths) > 2 else n
        for f, (a, b) in enumerate(((0, split), (split, n))):
            if a == b:
                continue
            path = root / f"data/chunk-00{f}/file-000.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({c: v.slice(a, b - a) for c, v in columns.items()}), path)
            for c in cameras:
                _video(root / f"videos/observation.images.{c}/chunk-00{f}/file-000.mp4", frames[a:b])
        rows = {"episode_index": list(range(len(lengths))), "length": list(lengths)}
        for c in cameras:
            key = f"observation.images.{c}"
            rows[f"videos/{key}/chunk_index"] = [0 if s < split else 1 for s in starts]
            rows[f"videos/{key}/file_index"] = [0] * len(lengths)
            rows[f"videos/{key}/from_timestamp"] = [(s if s < split else s - split) / FPS for s in starts]
        path = root / "meta/episodes/chunk-000/file-000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(rows), path)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    return {"steering": steer, "frames": np.stack(frames), "episode": episode}


def _import(src: Path, dest: Path, **kw) -> Recording:
    return Recording.open(import_recording(ImportConfig("lerobot", str(src), str(dest), progress=False, **kw)))


@pytest.mark.parametrize("version", ["v3.0", "v2.1"])
def test_a_lerobot_dataset_imports_episode_by_episode(tmp_path, version):
    made = write_lerobot(tmp_path / "ds", version=version)
    rec = _import(tmp_path / "ds", tmp_path / "rec")
    assert [s.frames for s in rec.segments] == [12, 9, 7]
    np.testing.assert_allclose(rec.steering, made["steering"], atol=1e-6)
    np.testing.assert_allclose(rec.signals["throttle"], 0.25)
    # Each frame is its own picture, from the right file and place: nearest to what was drawn for it.
    got = np.asarray(rec.frames).astype(np.float32)
    distance = np.abs(got[:, None] - made["frames"][None]).mean(axis=(2, 3, 4))
    assert (distance.argmin(axis=1) == np.arange(len(got))).all()
    assert rec.manifest.steering.unit == "normalized"
    assert rec.manifest.source.details["steering_field"] == "action.steering"


def test_a_recording_goes_to_lerobot_and_comes_back(tmp_path, capsys):
    rec = Recording.open(make_recording(tmp_path / "rec", n=90, segments=3))
    code, _, err = run_cli("convert", rec.path, tmp_path / "ds", "--to", "lerobot", "--quiet", capsys=capsys)
    assert code == 0, err
    info = json.loads((tmp_path / "ds/meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["total_frames"] == 90
    assert info["features"]["action"]["names"][0] == "steering"
    assert (tmp_path / "ds/videos/observation.images.center/chunk-000/file-000.mp4").is_file()
    tasks = pq.read_table(tmp_path / "ds/meta/tasks.parquet")
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]  # LeRobot reads it with pandas

    back = _import(tmp_path / "ds", tmp_path / "back")
    assert np.max(np.abs(back.steering - rec.steering)) <= 1e-6
    for name in rec.signals:
        assert name in back.signals, name
    np.testing.assert_allclose(back.timestamps_s, rec.timestamps_s, atol=1e-9)
    assert [(s.start, s.stop) for s in back.segments] == [(s.start, s.stop) for s in rec.segments]
    assert back.manifest.steering == rec.manifest.steering
    error = np.abs(np.asarray(back.frames).astype(np.float32) - np.asarray(rec.frames))
    assert error.mean() < 4.0, error.mean()  # H.264 at CRF 18: a few levels of 255


def test_degrees_need_their_unit_and_keep_their_digits(tmp_path, capsys):
    src = write_lerobot(tmp_path / "ds", scale=450.0)  # steering-wheel degrees, up to 360
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "ds", tmp_path / "r0", "--quiet",
                        mentions=("action.steering", "--steering-unit"))
    rec = _import(tmp_path / "ds", tmp_path / "rec", steering_unit="deg_wheel")
    # to 1e-6: signals.csv keeps nine significant digits
    np.testing.assert_allclose(rec.steering, src["steering"].astype(np.float32), rtol=0, atol=1e-6)

    # Degrees with six decimals do not survive float32 (7e-6 apart near 100): the export keeps float64.
    n = 24
    video = tmp_path / "drive.mkv"
    from tests.helpers import write_video

    write_video(video, [synthetic_frame(0.01 * i, seed=i) for i in range(n)], fps=FPS)
    degrees = 100.0 + np.arange(n) * 1.234567
    rows = "".join(f"{i},{d:.6f}\n" for i, d in enumerate(degrees))
    (tmp_path / "drive.csv").write_text("frame_index,steering\n" + rows)
    deg = import_recording(ImportConfig("video", str(video), str(tmp_path / "deg"), steering_unit="deg_wheel",
                                        progress=False))
    convert_recording(ConvertConfig(rec=str(deg), dest=str(tmp_path / "out"), progress=False))
    assert json.loads((tmp_path / "out/meta/info.json").read_text())["features"]["action"]["dtype"] == "float64"
    back = _import(tmp_path / "out", tmp_path / "back")
    assert back.manifest.steering.unit == "deg_wheel"
    assert np.max(np.abs(back.steering - degrees)) <= 1e-6


def test_several_cameras_and_ambiguous_fields_say_which(tmp_path, capsys):
    write_lerobot(tmp_path / "ds", cameras=("front", "rear"), action_names=("steer_cmd", "steer_rate"))
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "ds", tmp_path / "r1", "--quiet",
                        mentions=("--camera", "observation.images.front", "observation.images.rear"))
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "ds", tmp_path / "r2", "--quiet", "--camera", "rear",
                        mentions=("--steering", "action.steer_cmd", "action.steer_rate"))
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "ds", tmp_path / "r3", "--quiet", "--camera", "side",
                        mentions=("--camera 'side'",))
    rec = _import(tmp_path / "ds", tmp_path / "rec", camera="rear", steering="action.steer_cmd")
    assert len(rec) == 28 and rec.manifest.cameras[0].name == "rear"


def test_a_broken_dataset_is_one_line(tmp_path, capsys):
    write_lerobot(tmp_path / "ds")
    next((tmp_path / "ds/videos").rglob("*.mp4")).unlink()
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "ds", tmp_path / "rec", "--quiet",
                        watch=(tmp_path,), mentions=(".mp4", "not found"))
    (tmp_path / "ds/meta/info.json").write_text('{"codebase_version": "v1.6", "fps": 10, "features": {}}')
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "ds", tmp_path / "rec", "--quiet",
                        watch=(tmp_path,), mentions=("info.json", "v1.6"))
    fails_with_one_line(capsys, "import", "lerobot", tmp_path / "nothing", tmp_path / "rec", "--quiet",
                        mentions=("not found",))


def test_convert_never_replaces_what_it_did_not_make(tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=30)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    fails_with_one_line(capsys, "convert", rec, tmp_path / "mine", "--to", "lerobot", "--quiet",
                        watch=(tmp_path / "mine",))
    assert run_cli("convert", rec, tmp_path / "ds", "--to", "lerobot", "--quiet")[0] == 0
    assert run_cli("convert", rec, tmp_path / "ds", "--to", "lerobot", "--quiet")[0] == 0  # its own: replaced


def test_a_video_store_recording_converts(tmp_path):
    from tests.helpers import write_udacity_sim

    src = write_udacity_sim(tmp_path / "sim", n=20)
    rec = import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "rec"), store="video",
                                        progress=False))
    convert_recording(ConvertConfig(rec=str(rec), dest=str(tmp_path / "ds"), progress=False))
    back = _import(tmp_path / "ds", tmp_path / "back")
    assert len(back) == 20


def test_where_the_camera_sees_the_car_survives_the_round_trip(tmp_path, capsys):
    from timesteer.data.push import ViewInFrame

    path = make_recording(tmp_path / "rec", n=40)
    manifest = json.loads((path / "manifest.json").read_text())
    # Stored at half the source's size: the view, in source pixels, must come back in the stored ones.
    manifest["frame"].update(source_height=96, source_width=128)
    manifest["view"] = {"pivot_row_px": 71.5, "pivot_col_px": 63.5, "px_per_m_across": 2.0, "px_per_m_along": 2.4,
                        "wheelbase_m": 3.0, "fixed_px": [60, 80, 56, 72]}
    (path / "manifest.json").write_text(json.dumps(manifest))
    rec = Recording.open(path)
    code, _, err = run_cli("convert", path, tmp_path / "ds", "--to", "lerobot", "--quiet", capsys=capsys)
    assert code == 0, err
    back = _import(tmp_path / "ds", tmp_path / "back")
    assert back.manifest.view is not None
    assert ViewInFrame.of(back.manifest.view, back.manifest.frame) == ViewInFrame.of(rec.manifest.view,
                                                                                      rec.manifest.frame)
    assert ViewInFrame.of(back.manifest.view, back.manifest.frame).pivot_row == 35.5


def test_a_dashcam_survives_the_round_trip(tmp_path, capsys):
    from timesteer.data.dashcam import DashcamInFrame

    path = make_recording(tmp_path / "rec", n=40)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["frame"].update(source_height=96, source_width=128)  # stored at half the source's size
    manifest["dashcam"] = {"focal_px": 62.5, "centre_row_px": 47.5, "centre_col_px": 63.5, "height_m": 0.1,
                           "ahead_m": 0.07, "tilt_down_rad": 0.3, "yaw_rate_per_unit": 0.45, "full_lock": 3.0}
    (path / "manifest.json").write_text(json.dumps(manifest))
    rec = Recording.open(path)
    code, _, err = run_cli("convert", path, tmp_path / "ds", "--to", "lerobot", "--quiet", capsys=capsys)
    assert code == 0, err
    back = _import(tmp_path / "ds", tmp_path / "back")
    assert back.manifest.dashcam is not None and back.manifest.view is None
    mine = DashcamInFrame.of(rec.manifest.dashcam, rec.manifest.frame)
    theirs = DashcamInFrame.of(back.manifest.dashcam, back.manifest.frame)
    assert theirs.__dict__ == pytest.approx(mine.__dict__)
    assert theirs.centre_row == 23.5 and theirs.focal_row_px == 31.25
