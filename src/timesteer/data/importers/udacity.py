"""Udacity self-driving challenge 2 extraction: `interpolated.csv` + camera folders.

Columns `index,timestamp,width,height,frame_id,filename,angle,torque,speed,...`, timestamp in
nanoseconds, `angle` in radians, `speed` in m/s. Rows of the three cameras are interleaved; we keep
`frame_id == center_camera` unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timesteer.data.importers.source import (
    CameraSource,
    ImageFiles,
    ParsedSource,
    header_index,
    number,
    read_csv,
    require_rows,
)
from timesteer.data.manifest import Steering
from timesteer.errors import InputError

REQUIRED = ["timestamp", "frame_id", "filename", "angle"]


def parse(src: Path, camera: str | None = None, **_: object) -> ParsedSource:
    log = src / "interpolated.csv" if src.is_dir() else src
    base = log.parent
    frame_id = camera or "center_camera"
    rows = read_csv(log, what="interpolated.csv")
    require_rows(log, rows, "index,timestamp,width,height,frame_id,filename,angle,torque,speed")
    col = header_index(log, rows[0], REQUIRED)
    data = [r for r in rows[1:] if len(r.values) > col["frame_id"] and r.values[col["frame_id"]] == frame_id]
    if not data:
        ids = sorted({r.values[col["frame_id"]] for r in rows[1:] if len(r.values) > col["frame_id"]})
        raise InputError(log, f"empty log: no rows with frame_id {frame_id!r} (found {ids or 'no data rows'})")
    optional = [c for c in ("torque", "speed") if c in col]
    times, lines, paths = [], [], []
    signals: dict[str, list[float]] = {"steering": [], **{c: [] for c in optional}}
    for row in data:
        times.append(number(log, row, col["timestamp"], "timestamp") * 1e-9)
        signals["steering"].append(number(log, row, col["angle"], "angle", finite=False))
        for c in optional:
            signals[c].append(number(log, row, col[c], c))
        paths.append(base / row.values[col["filename"]])
        lines.append(row.line)
    t = np.asarray(times)
    return ParsedSource(
        format="udacity",
        path=src,
        log_path=log,
        rows=np.asarray(lines),
        timestamps_s=t - t[0],
        signals={k: np.asarray(v) for k, v in signals.items()},
        steering=Steering(kind="wheel_angle", unit="rad", to_rad=1.0,
                          note="Udacity challenge `angle` in radians; positive steers right"),
        cameras=[CameraSource(name=frame_id, frames=ImageFiles(paths))],
        details={"frame_id": frame_id, "start_time_ns": round(times[0] * 1e9)},
    )
