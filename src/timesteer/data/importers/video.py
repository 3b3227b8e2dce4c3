"""Any video PyAV can read + a CSV of `timestamp_s,steering[,speed]` (or `frame_index,steering[,speed]`).

With timestamps, signals are linearly interpolated to each frame's display time (from the video's
packet timestamps); frames before the CSV starts are dropped. With frame indexes, rows name frames.
The CSV is SRC with the extension `.csv` unless `--csv` says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timesteer.data.importers.source import (
    CameraSource,
    ParsedSource,
    VideoFrames,
    check_time_order,
    header_index,
    lines_of,
    number,
    read_csv,
    require_rows,
)
from timesteer.data.importers.write import video_frame_times
from timesteer.data.manifest import Steering, SteeringKind, SteeringUnit
from timesteer.errors import InputError


def parse(src: Path, csv: str | None = None, steering_unit: SteeringUnit | None = None,
          steering_to_rad: float | None = None, steering_kind: SteeringKind | None = None,
          **_: object) -> ParsedSource:
    log = Path(csv) if csv else src.with_suffix(".csv")
    rows = read_csv(log, what="steering CSV")
    require_rows(log, rows, "timestamp_s,steering[,speed]")
    names = [v.lower() for v in rows[0].values]
    key = "timestamp_s" if "timestamp_s" in names else "frame_index"
    col = header_index(log, rows[0], [key, "steering"])
    data = rows[1:]
    require_rows(log, data, f"{key},steering")
    optional = [c for c in ("speed", "throttle", "brake") if c in col]
    lines = np.asarray([r.line for r in data])
    x = np.asarray([number(log, r, col[key], key) for r in data])
    values = {"steering": np.asarray([number(log, r, col["steering"], "steering", finite=False) for r in data])}
    for c in optional:
        values[c] = np.asarray([number(log, r, col[c], c) for r in data])
    check_time_order(x, lines_of(log, lines))
    # A NaN steering row is not refused here: the frames it touches are skipped when the recording is written.

    frame_t = video_frame_times(src)
    details: dict[str, object] = {"csv": str(log.absolute()), "aligned_by": key}
    if key == "frame_index":
        idx = x.astype(np.int64)
        if np.any(idx != x) or np.any(np.diff(idx) <= 0) or idx[0] < 0:
            raise InputError(log, "frame_index: expected whole numbers >= 0 that increase", row=int(lines[0]))
        # Times for frames past the container's end are extrapolated; decoding then reports the shortfall.
        period = float(np.median(np.diff(frame_t))) if len(frame_t) > 1 else 1.0
        times = np.where(idx < len(frame_t), frame_t[np.minimum(idx, len(frame_t) - 1)],
                         frame_t[-1] + (idx - len(frame_t) + 1) * period)
        signals, rows_out = values, lines
    else:
        period = float(np.median(np.diff(frame_t))) if len(frame_t) > 1 else 0.0
        if frame_t[-1] + period < x[-1] - 1e-6:
            raise InputError(src, f"video shorter than its CSV: the video ends at {frame_t[-1]:.3f} s (frame "
                                  f"{len(frame_t) - 1}) but line {int(lines[-1])} of {log.name} is at {x[-1]:.3f} s",
                             frame=len(frame_t) - 1)
        keep = np.flatnonzero((frame_t >= x[0] - 1e-9) & (frame_t <= x[-1] + 1e-9))
        if len(keep) == 0:
            raise InputError(log, f"no video frame falls inside the CSV's time range {x[0]:.3f}-{x[-1]:.3f} s")
        idx, times = keep, frame_t[keep]
        signals = {k: np.interp(times, x, v) for k, v in values.items()}
        # Each frame's error points at the CSV line just before its time.
        rows_out = lines[np.clip(np.searchsorted(x, times, side="right") - 1, 0, len(lines) - 1)]
        details["dropped_frames"] = int(len(frame_t) - len(keep))
    unit: SteeringUnit = steering_unit or "rad"
    to_rad = steering_to_rad if steering_to_rad is not None else (1.0 if unit == "rad" else None)
    return ParsedSource(
        format="video",
        path=src,
        log_path=log,
        rows=rows_out,
        timestamps_s=np.asarray(times, dtype=np.float64) - float(times[0]),
        signals=signals,
        steering=Steering(unit=unit, to_rad=to_rad, note="from the user's CSV; positive steers right",
                          kind=steering_kind),
        cameras=[CameraSource(name="front", frames=VideoFrames(src, np.asarray(idx, dtype=np.int64)))],
        details=details,
    )
