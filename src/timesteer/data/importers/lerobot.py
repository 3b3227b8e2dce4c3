"""LeRobot dataset folders (v3.0; v2.x too): one camera and one steering field become a recording.

`--camera` picks a video feature (`observation.images.front`, or just `front`) and `--steering` a
numeric field: a feature of one value (`observation.steering`) or one named element of a vector
(`action.steering`, or `action[0]` when the elements have no names). Each is found on its own when the
dataset has exactly one candidate (for steering: one field whose name holds "steer"); otherwise the error
lists the choices. Speed, throttle and brake come along when exactly one field is named for each.
Every episode becomes a segment. A dataset timesteer wrote (`meta/timesteer.json`) comes back as the
recording it was: the same fields, steering unit and real frame times. The layout is in
`data/lerobot_format.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.config import from_dict
from timesteer.data.dashcam import dashcam_of_stored_frames
from timesteer.data.importers.source import CameraSource, ParsedSource, VideoFiles
from timesteer.data.lerobot_format import (
    CAMERA_PREFIX,
    EPISODES_DIR,
    INDEX_COLUMNS,
    RECORDED_TIME,
    TIMESTEER_META,
    image_keys,
    read_info,
    video_keys,
)
from timesteer.data.manifest import DashcamView, FrameGeometry, Steering, SteeringKind, SteeringUnit, TopDownView
from timesteer.data.push import view_of_stored_frames
from timesteer.errors import ConfigError, InputError

EPISODE_GAP_S = 10.0  # episodes laid end to end in time, this far apart, when frames carry no real time
OTHER_SIGNALS = {"speed": ("speed",), "throttle": ("throttle", "gas"), "brake": ("brake",)}


def parse(src: Path, camera: str | None = None, steering: str | None = None,
          steering_unit: SteeringUnit | None = None, steering_to_rad: float | None = None,
          steering_kind: SteeringKind | None = None, **_: object) -> ParsedSource:
    if not src.is_dir():
        raise InputError(src, "expected a LeRobot dataset folder (with meta/info.json)")
    info = read_info(src)
    ours = _timesteer_meta(src)
    key = _camera(src, info, camera or (ours or {}).get("camera_key"))
    fields = numeric_fields(info)
    steer = _steering(src, fields, steering or (ours or {}).get("steering_field"))
    files = sorted((src / "data").glob("*/*.parquet"))
    if not files:
        raise InputError(src / "data", "no Parquet files under data/: expected data/chunk-XXX/*.parquet")
    columns = sorted({fields[steer][0], "timestamp", "episode_index", "index"}
                     | {fields[f][0] for f in _others(fields, steer).values()}
                     | ({RECORDED_TIME} if RECORDED_TIME in info["features"] else set()))
    table, row_files, rows = _read_rows(files, columns)
    order = np.argsort(table["index"], kind="stable")
    table = {k: v[order] for k, v in table.items()}
    row_files, rows = [row_files[i] for i in order], rows[order]
    episodes = table["episode_index"].astype(np.int64)

    video_files, file_of, from_s = _episode_videos(src, info, key, episodes)
    fps = float(info["features"][key].get("info", {}).get("video.fps") or info["fps"])
    position = np.searchsorted(np.unique(episodes), episodes)  # each row's episode, as _episode_videos lists them
    indexes = np.rint((from_s[position] + table["timestamp"]) * fps).astype(np.int64)
    file_index = file_of[position]

    starts = np.flatnonzero(np.r_[True, episodes[1:] != episodes[:-1]])
    if RECORDED_TIME in table:
        times = table[RECORDED_TIME].astype(np.float64)
    else:  # episodes end to end, apart by more than any gap threshold
        times = table["timestamp"].astype(np.float64).copy()
        offset = 0.0
        for a, b in zip(starts, [*starts[1:], len(times)], strict=True):
            times[a:b] += offset - times[a]
            offset = times[b - 1] + EPISODE_GAP_S
    signals = {"steering": _values(table, fields[steer])}
    for name, field in _others(fields, steer).items():
        signals[name] = _values(table, fields[field])
    unit, to_rad, note = _unit(src, ours, steer, signals["steering"], steering_unit, steering_to_rad)
    finite = times[np.isfinite(times)]
    return ParsedSource(
        format="lerobot", path=src, log_path=row_files[0], rows=rows,
        timestamps_s=times - (finite[0] if len(finite) else 0.0), signals=signals,
        steering=Steering(unit=unit, to_rad=to_rad, note=note, kind=steering_kind or _kind(ours)),
        cameras=[CameraSource(name=key.removeprefix(CAMERA_PREFIX).replace("/", "_") or "front",
                              frames=VideoFiles(video_files, file_index, indexes))],
        forced_breaks=starts[1:], view=_view(src, ours),
        details={"codebase_version": info.get("codebase_version"), "camera_key": key, "steering_field": steer,
                 "episodes": len(starts), "robot_type": info.get("robot_type")},
        row_files=row_files, fps=None,
    )


def numeric_fields(info: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
    """Every scalar a user could pick: field name -> (column, element or None for a scalar column)."""
    fields: dict[str, tuple[str, int | None]] = {}
    for key, feature in info["features"].items():
        if key in INDEX_COLUMNS or feature["dtype"] in ("video", "image", "string", "bool") \
                or not str(feature["dtype"]).startswith(("float", "int")):
            continue
        shape = list(feature["shape"])
        names = feature.get("names")
        if isinstance(names, dict) and len(names) == 1:  # older datasets: {"motors": [...]}
            names = next(iter(names.values()))
        named = isinstance(names, list) and len(shape) == 1 and len(names) == shape[0] \
            and all(isinstance(n, str) for n in names)
        if shape in ([], [1]) and not named:
            fields[key] = (key, None)
        elif len(shape) == 1:
            if named:
                fields.update({f"{key}.{name}": (key, i) for i, name in enumerate(names)})
            else:
                fields.update({f"{key}[{i}]": (key, i) for i in range(shape[0])})
    return fields


def _camera(src: Path, info: dict[str, Any], asked: str | None) -> str:
    keys = video_keys(info)
    if not keys:
        pictures = image_keys(info)
        raise InputError(src / "meta/info.json", "no video feature" + (
            f"; {', '.join(pictures)} hold images inside the Parquet files, which timesteer does not read "
            f"(LeRobot's own tools can encode them as videos)" if pictures else ": expected a camera"))
    if asked is None:
        if len(keys) > 1:
            raise InputError(src / "meta/info.json", f"{len(keys)} cameras; say which with --camera: "
                                                     f"{', '.join(keys)}")
        return keys[0]
    for key in keys:
        if asked in (key, key.removeprefix(CAMERA_PREFIX)):
            return key
    raise InputError(src / "meta/info.json", f"--camera {asked!r}: expected one of {', '.join(keys)}")


def _steering(src: Path, fields: dict[str, tuple[str, int | None]], asked: str | None) -> str:
    if asked is not None:
        if asked not in fields:
            raise InputError(src / "meta/info.json", f"--steering {asked!r}: expected one of "
                                                     f"{_listing(fields)}")
        return asked
    found = [f for f in fields if "steer" in f.lower()]
    if len(found) == 1:
        return found[0]
    what = f"{len(found)} fields name steering ({', '.join(found)})" if found else "no field names steering"
    raise InputError(src / "meta/info.json", f"{what}; say which with --steering, one of {_listing(fields)}")


def _listing(fields: dict[str, Any], most: int = 12) -> str:
    names = list(fields)
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _others(fields: dict[str, tuple[str, int | None]], steer: str) -> dict[str, str]:
    """Speed, throttle and brake, each when exactly one field is named for it."""
    found = {}
    for signal, words in OTHER_SIGNALS.items():
        hits = [f for f in fields if f != steer and any(w in f.lower() for w in words)]
        if len(hits) == 1:
            found[signal] = hits[0]
    return found


def _read_rows(files: list[Path], columns: list[str]) -> tuple[dict[str, Any], list[Path], np.ndarray]:
    import pyarrow as pa  # here, not at the top: `import timesteer.data` stays quick without it
    import pyarrow.parquet as pq

    tables, row_files, rows = [], [], []
    for path in files:
        try:
            table = pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            missing = [c for c in columns if c not in _schema_names(path)]
            detail = f"missing column {missing[0]!r}" if missing else str(exc).splitlines()[0][:200]
            raise InputError(path, f"could not read it as the dataset's Parquet ({detail})") from None
        tables.append(table)
        row_files += [path] * table.num_rows
        rows.append(np.arange(1, table.num_rows + 1))
    merged: dict[str, Any] = {}
    for name in columns:
        chunks = [t.column(name).combine_chunks() for t in tables]
        merged[name] = np.concatenate([_column(c) for c in chunks]) if chunks else np.zeros(0)
    return merged, row_files, np.concatenate(rows)


def _schema_names(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).names
    except (pa.ArrowException, OSError):
        return []


def _column(array: Any) -> np.ndarray:
    """A Parquet column (a pyarrow array) as numpy: scalars as (N,), fixed or variable lists as (N, K)."""
    import pyarrow as pa

    if pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type) \
            or pa.types.is_large_list(array.type):
        width = len(array[0]) if len(array) else 0
        flat = array.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
        return flat.reshape(len(array), width)
    return array.to_numpy(zero_copy_only=False)


def _values(table: dict[str, np.ndarray], field: tuple[str, int | None]) -> np.ndarray:
    column, element = field
    values = table[column]
    if element is None or values.ndim == 1:  # a feature of shape [1] is a plain column
        return values.reshape(len(values), -1)[:, 0].astype(np.float64)
    return values[:, element].astype(np.float64)


def _episode_videos(src: Path, info: dict[str, Any], key: str,
                    episodes: np.ndarray) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """For each episode (sorted unique): its video file (as an index into the returned paths) and where
    in that file it starts (s)."""
    wanted = np.unique(episodes)
    template = info.get("video_path") or ""
    paths: list[Path] = []
    file_of = np.zeros(len(wanted), dtype=np.int64)
    from_s = np.zeros(len(wanted))
    if str(info.get("codebase_version", "")).startswith("v2"):
        chunk = int(info.get("chunks_size") or 1000)
        for k, ep in enumerate(wanted.tolist()):
            path = src / template.format(episode_chunk=ep // chunk, video_key=key, episode_index=ep)
            paths.append(path)
            file_of[k] = k
        return _existing(paths), file_of, from_s
    meta = _episodes_table(src, key)
    by_episode = {int(e): i for i, e in enumerate(meta["episode_index"])}
    seen: dict[Path, int] = {}
    for k, ep in enumerate(wanted.tolist()):
        if ep not in by_episode:
            raise InputError(src / EPISODES_DIR, f"episode {ep} has rows in data/ but no entry in meta/episodes")
        i = by_episode[ep]
        path = src / template.format(video_key=key, chunk_index=int(meta[f"videos/{key}/chunk_index"][i]),
                                     file_index=int(meta[f"videos/{key}/file_index"][i]))
        file_of[k] = seen.setdefault(path, len(seen))
        from_s[k] = float(meta[f"videos/{key}/from_timestamp"][i])
    return _existing(list(seen)), file_of, from_s


def _episodes_table(src: Path, key: str) -> dict[str, np.ndarray]:
    files = sorted((src / EPISODES_DIR).glob("*/*.parquet"))
    if not files:
        raise InputError(src / EPISODES_DIR, "no Parquet files: expected meta/episodes/chunk-XXX/file-XXX.parquet")
    needed = ["episode_index", f"videos/{key}/chunk_index", f"videos/{key}/file_index",
              f"videos/{key}/from_timestamp"]
    table, _, _ = _read_rows(files, needed)
    return table


def _existing(paths: list[Path]) -> list[Path]:
    for path in paths:
        if not path.is_file():
            raise InputError(path, "video file named by the dataset's metadata not found")
    return paths


def _view(src: Path, ours: dict[str, Any] | None) -> TopDownView | DashcamView | None:
    """Where the camera sees the car, from a timesteer export, in the exported frames' pixels."""
    manifest = (ours or {}).get("manifest") or {}
    if not isinstance(manifest, dict) or (manifest.get("view") is None and manifest.get("dashcam") is None):
        return None
    try:
        frame = from_dict(FrameGeometry, manifest.get("frame", {}), where="manifest.frame")
        if manifest.get("view") is not None:
            return view_of_stored_frames(from_dict(TopDownView, manifest["view"], where="manifest.view"), frame)
        if manifest.get("dashcam") is not None:
            dashcam = from_dict(DashcamView, manifest["dashcam"], where="manifest.dashcam")
            return dashcam_of_stored_frames(dashcam, frame)
    except ConfigError as exc:
        raise InputError(src / TIMESTEER_META, str(exc)) from None
    return None


def _timesteer_meta(src: Path) -> dict[str, Any] | None:
    path = src / TIMESTEER_META
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"expected JSON ({exc})") from None
    return meta if isinstance(meta, dict) else None


def _kind(ours: dict[str, Any] | None) -> SteeringKind | None:
    """What the steering sets, as a dataset timesteer wrote says (its manifest's steering); else not known."""
    steering = (ours or {}).get("steering")
    kind = steering.get("kind") if isinstance(steering, dict) else None
    return kind if kind in ("wheel_angle", "turn_rate") else None


def _unit(src: Path, ours: dict[str, Any] | None, field: str, values: np.ndarray, unit: SteeringUnit | None,
          to_rad: float | None) -> tuple[SteeringUnit, float | None, str]:
    if unit is not None:
        return unit, to_rad if to_rad is not None else (1.0 if unit == "rad" else None), f"LeRobot field {field}"
    if ours is not None and isinstance(ours.get("steering"), dict):
        s = ours["steering"]
        return s.get("unit", "normalized"), s.get("to_rad"), s.get("note", "")
    finite = values[np.isfinite(values)]
    if len(finite) and float(np.max(np.abs(finite))) > 1.0:
        raise InputError(src / "meta/info.json", f"{field} reaches {float(np.max(np.abs(finite))):g}, outside the "
                                                 f"normalised [-1, 1]: say its unit with --steering-unit "
                                                 f"(rad or deg_wheel)")
    return "normalized", to_rad, f"LeRobot field {field}, taken as normalised steering in [-1, 1]"
