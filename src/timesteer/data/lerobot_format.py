"""What a LeRobot dataset folder is (format v3.0, and v2.x read too), shared by the importer and the exporter.

LeRobot (Hugging Face) is how robot-learning data is shared now, driving included (yaak-ai's L2D). A
dataset folder holds
- `meta/info.json`: codebase version, fps, feature schema (`dtype`, `shape`, `names`), path templates;
- `data/chunk-XXX/file-YYY.parquet` (v3.0): one row per frame - the non-video features, `timestamp`
  (seconds since the episode's start), `frame_index` (within the episode), `episode_index`, `index`
  (across the dataset), `task_index`;
- `videos/<camera key>/chunk-XXX/file-YYY.mp4` (v3.0): several episodes end to end per file;
- `meta/episodes/chunk-XXX/file-YYY.parquet` (v3.0): per episode its `length`, its rows
  (`dataset_from_index`, `dataset_to_index`), and per camera which video file and where in it
  (`videos/<key>/chunk_index`, `file_index`, `from_timestamp`, `to_timestamp`);
- `meta/tasks.parquet`, `meta/stats.json`.
In v2.x each episode has its own parquet and video (`data/chunk-000/episode_000000.parquet`), listed in
`meta/episodes.jsonl`. Frame k of an episode is the video frame shown at `from_timestamp + timestamp`.

timesteer adds `meta/timesteer.json` to the datasets it writes (the recording's manifest: steering unit,
source), which LeRobot ignores and the importer uses to restore a recording exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from timesteer.errors import InputError

INFO = "meta/info.json"
TIMESTEER_META = "meta/timesteer.json"
EPISODES_DIR = "meta/episodes"
TASKS = "meta/tasks.parquet"
STATS = "meta/stats.json"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = EPISODES_DIR + "/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
CODEBASE_VERSION = "v3.0"
CAMERA_PREFIX = "observation.images."
RECORDED_TIME = "observation.recorded_time_s"  # timesteer's: the frame's real time, when it was recorded
# LeRobot's own columns: not features a user picks for steering
INDEX_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def read_info(root: Path) -> dict[str, Any]:
    path = root / INFO
    if not path.is_file():
        raise InputError(path, "meta/info.json not found: expected a LeRobot dataset folder")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"expected JSON ({exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("features"), dict):
        raise InputError(path, "expected an object with 'features' (a LeRobot dataset's info.json)")
    version = str(info.get("codebase_version", ""))
    if not version.startswith(("v2", "v3")):
        raise InputError(path, f"codebase_version {version!r}: expected LeRobot's v2.x or v3.0")
    fps = info.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0:
        raise InputError(path, f"'fps': expected a positive number, got {fps!r}")
    for key, feature in info["features"].items():
        if not isinstance(feature, dict) or "dtype" not in feature or "shape" not in feature:
            raise InputError(path, f"feature {key!r}: expected an object with 'dtype' and 'shape'")
    return info


def video_keys(info: dict[str, Any]) -> list[str]:
    return [k for k, f in info["features"].items() if f["dtype"] == "video"]


def image_keys(info: dict[str, Any]) -> list[str]:
    return [k for k, f in info["features"].items() if f["dtype"] == "image"]
