"""`timesteer convert REC DIR --to lerobot`: a recording as a LeRobot v3.0 dataset folder.

So that a timesteer recording opens in LeRobot's tools (its dataset class, its visualiser, its policies).
Each segment becomes an episode; each camera a video feature `observation.images.<camera>` (H.264 in
MP4, 4:2:0 when the frame size is even, which every player shows; 4:4:4 otherwise; CRF 18, a keyframe
every 2 frames as LeRobot's own encoder sets it for random access). `action` holds steering (then
throttle and brake when recorded) and `observation.state` the speed; float32, as LeRobot's policies
read them, unless some value would move by more than 1e-6, then float64. LeRobot needs a whole-number
frame rate: frames are numbered at the recording's rate rounded, and each frame's real time is kept in
`observation.recorded_time_s`. `meta/timesteer.json` keeps the manifest, so `import lerobot` gives the
recording back. The layout is in `data/lerobot_format.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from timesteer.config import to_dict, validate
from timesteer.data.lerobot_format import (
    CAMERA_PREFIX,
    CODEBASE_VERSION,
    DATA_PATH,
    EPISODES_PATH,
    INFO,
    RECORDED_TIME,
    STATS,
    TASKS,
    TIMESTEER_META,
    VIDEO_PATH,
)
from timesteer.data.recording import Recording
from timesteer.errors import ConfigError
from timesteer.files import fresh_directory, writing

TASK = "drive: steer along the road"
CRF = 18
KEYFRAME_EVERY = 2  # what LeRobot's encoder uses: any frame decodes after at most one other
STATS_SAMPLE = 2000  # frames read for each camera's pixel statistics


@dataclass
class ConvertConfig:
    rec: str
    dest: str
    to: str = "lerobot"
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)
        if self.to != "lerobot":
            raise ConfigError(f"to: unknown format {self.to!r}; expected lerobot")


def convert_recording(config: ConvertConfig) -> Path:
    """Write recording `config.rec` as a LeRobot dataset at `config.dest` (new, or one this made before)."""
    rec = Recording.open(config.rec)
    dest = Path(config.dest)
    with writing(dest, "dataset"), fresh_directory(dest, TIMESTEER_META, "LeRobot dataset",
                                                   inputs=(rec.path,)) as tmp:
        _write(rec, tmp, config.progress)
    return dest


def _write(rec: Recording, root: Path, progress: bool) -> None:
    m = rec.manifest
    n = len(rec)
    fps = max(1, round(m.fps))
    lengths = [s.frames for s in m.segments]
    episodes = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.array([s.start for s in m.segments], dtype=np.int64)
    frame_index = np.arange(n) - np.repeat(starts, lengths)
    action_names = ["steering", *[k for k in ("throttle", "brake") if k in rec.signals]]
    action = np.column_stack([rec.signals[k] for k in action_names])
    action_dtype = _float_type(action)
    features: dict[str, Any] = {
        "action": {"dtype": action_dtype, "shape": [len(action_names)], "names": action_names},
        RECORDED_TIME: {"dtype": "float64", "shape": [1], "names": None},
    }
    columns: dict[str, pa.Array] = {"action": _fixed_list(action, action_dtype)}
    stats: dict[str, Any] = {"action": _value_stats(action), RECORDED_TIME: _value_stats(rec.timestamps_s[:, None])}
    if "speed" in rec.signals:
        state = rec.signals["speed"][:, None]
        state_dtype = _float_type(state)
        features["observation.state"] = {"dtype": state_dtype, "shape": [1], "names": ["speed"]}
        # One value: LeRobot keeps a feature of shape [1] as a plain column, not a list of one.
        columns["observation.state"] = pa.array(state[:, 0].astype(state_dtype))
        stats["observation.state"] = _value_stats(state)
    columns[RECORDED_TIME] = pa.array(rec.timestamps_s, pa.float64())
    columns["timestamp"] = pa.array((frame_index / fps).astype(np.float32), pa.float32())
    columns["frame_index"] = pa.array(frame_index, pa.int64())
    columns["episode_index"] = pa.array(episodes, pa.int64())
    columns["index"] = pa.array(np.arange(n), pa.int64())
    columns["task_index"] = pa.array(np.zeros(n, dtype=np.int64), pa.int64())
    for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        dtype = "float32" if name == "timestamp" else "int64"
        features[name] = {"dtype": dtype, "shape": [1], "names": None}

    episode_rows: dict[str, list[Any]] = {
        "episode_index": list(range(len(m.segments))), "tasks": [[TASK]] * len(m.segments),
        "length": [s.frames for s in m.segments], "data/chunk_index": [0] * len(m.segments),
        "data/file_index": [0] * len(m.segments), "dataset_from_index": starts.tolist(),
        "dataset_to_index": [s.stop for s in m.segments]}
    bar = tqdm(total=n * len(m.cameras), desc="convert", unit="frame", disable=not progress, leave=False)
    for cam in m.cameras:
        key = f"{CAMERA_PREFIX}{cam.name}"
        frames = rec.camera_frames(cam.name)
        path = root / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0)
        codec_info = _encode(frames, path, fps, bar)
        features[key] = {"dtype": "video", "shape": [m.frame.height, m.frame.width, 3],
                         "names": ["height", "width", "channels"], "info": codec_info}
        episode_rows[f"videos/{key}/chunk_index"] = [0] * len(m.segments)
        episode_rows[f"videos/{key}/file_index"] = [0] * len(m.segments)
        episode_rows[f"videos/{key}/from_timestamp"] = [s.start / fps for s in m.segments]
        episode_rows[f"videos/{key}/to_timestamp"] = [s.stop / fps for s in m.segments]
        stats[key] = _pixel_stats(frames)
    bar.close()
    episode_rows["meta/episodes/chunk_index"] = [0] * len(m.segments)
    episode_rows["meta/episodes/file_index"] = [0] * len(m.segments)

    _parquet(pa.table(columns), root / DATA_PATH.format(chunk_index=0, file_index=0))
    _parquet(pa.table(episode_rows), root / EPISODES_PATH.format(chunk_index=0, file_index=0))
    _parquet(_tasks_table(), root / TASKS)
    info = {
        "codebase_version": CODEBASE_VERSION, "robot_type": f"car ({m.source.format})", "total_episodes":
        len(m.segments), "total_frames": n, "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200, "fps": fps, "splits": {"train": f"0:{len(m.segments)}"},
        "data_path": DATA_PATH, "video_path": VIDEO_PATH, "features": features,
    }
    _json(root / INFO, info)
    _json(root / STATS, stats)
    _json(root / TIMESTEER_META, {
        "recording": str(rec.path.absolute()), "fingerprint": rec.fingerprint(), "camera_key":
        f"{CAMERA_PREFIX}{m.cameras[0].name}", "steering_field": "action.steering",
        "steering": to_dict(m.steering), "fps": m.fps, "manifest": json.loads(m.to_json())})


def _float_type(values: np.ndarray) -> str:
    """float32 when every value survives it to 1e-6 with room to spare (half of it: the recording's own
    text table rounds too), else float64."""
    return "float32" if np.all(np.abs(values.astype(np.float32).astype(np.float64) - values) <= 5e-7) \
        else "float64"


def _fixed_list(values: np.ndarray, dtype: str) -> pa.Array:
    flat = pa.array(values.astype(dtype).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def _encode(frames: Any, path: Path, fps: int, bar: tqdm) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    n, h, w = len(frames), frames.shape[1], frames.shape[2]
    pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps),
                                      options={"crf": str(CRF), "g": str(KEYFRAME_EVERY), "bf": "0"})
        stream.height, stream.width, stream.pix_fmt = h, w, pix_fmt
        for start in range(0, n, 256):
            for k, frame in enumerate(np.asarray(frames[start:start + 256])):
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                picture.pts = start + k
                container.mux(stream.encode(picture))
            bar.update(min(256, n - start))
        container.mux(stream.encode(None))
    return {"video.height": h, "video.width": w, "video.codec": "h264", "video.pix_fmt": pix_fmt,
            "video.is_depth_map": False, "video.fps": fps, "video.channels": 3, "has_audio": False}


def _pixel_stats(frames: Any) -> dict[str, Any]:
    """Per-channel statistics of pixels in [0, 1], shaped (3, 1, 1) as LeRobot keeps them for images."""
    n = len(frames)
    sample = np.asarray(frames[np.linspace(0, n - 1, min(STATS_SAMPLE, n)).astype(np.int64)], dtype=np.float64)
    pixels = sample.reshape(-1, 3) / 255.0

    def per_channel(values: np.ndarray) -> list[list[list[float]]]:
        return [[[float(v)]] for v in values]

    return {"min": per_channel(pixels.min(0)), "max": per_channel(pixels.max(0)), "mean": per_channel(pixels.mean(0)),
            "std": per_channel(pixels.std(0)), "count": [n]}


def _value_stats(values: np.ndarray) -> dict[str, Any]:
    return {"min": values.min(0).tolist(), "max": values.max(0).tolist(), "mean": values.mean(0).tolist(),
            "std": values.std(0).tolist(), "count": [len(values)]}


def _tasks_table() -> pa.Table:
    """meta/tasks.parquet as pandas writes a DataFrame indexed by task (LeRobot reads it with pandas):
    the index is the column `task`, named in the schema's pandas metadata."""
    table = pa.table({"task_index": pa.array([0], pa.int64()), "task": pa.array([TASK], pa.string())})
    pandas_meta = {
        "index_columns": ["task"], "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
             "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0"}
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def _parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n", encoding="utf-8")
