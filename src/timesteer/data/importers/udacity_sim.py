"""Udacity self-driving car simulator: `driving_log.csv` + `IMG/`.

The log has no header (some copies add one) and the columns
`center,left,right,steering,throttle,brake,speed`, possibly followed by extra columns. Image paths are
absolute paths on the machine that recorded (Windows or Unix); what follows `IMG/` locates them here.
Timestamps live in the file names: `center_2017_02_11_21_34_14_978.jpg` is 21:34:14.978.
Steering is the simulator's normalised angle in [-1, 1]; 1.0 is 25 degrees of road-wheel angle.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np

from timesteer.data.importers.source import (
    CameraSource,
    CsvRow,
    ImageFiles,
    ParsedSource,
    number,
    read_csv,
    require_rows,
)
from timesteer.data.manifest import Steering
from timesteer.errors import InputError

COLUMNS = ("center", "left", "right", "steering", "throttle", "brake", "speed")
STAMP = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{3})")
MAX_ANGLE_RAD = math.radians(25.0)
CAMERA_CHOICES = ("center", "left", "right", "all")


def locate_image(base: Path, recorded: str) -> Path:
    """Where a logged image path is on this machine: after the last `IMG/` (or `IMG\\`), under base/IMG."""
    parts = re.split(r"[\\/]", recorded)
    if "IMG" in parts:
        i = len(parts) - 1 - parts[::-1].index("IMG")
        return base.joinpath("IMG", *parts[i + 1 :])
    return base.joinpath(*parts)


def timestamp_s(log: Path, row: CsvRow, name: str) -> float:
    match = STAMP.search(name)
    if not match:
        raise InputError(log, f"expected a timestamp in the image name like center_2017_02_11_21_34_14_978.jpg, "
                              f"got {name!r}", row=row.line)
    y, mo, d, h, mi, s, ms = (int(v) for v in match.groups())
    try:
        when = dt.datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=dt.UTC)
    except ValueError as exc:
        raise InputError(log, f"image name {name!r} holds an impossible time ({exc})", row=row.line) from None
    return when.timestamp()


def parse(src: Path, camera: str | None = None, **_: object) -> ParsedSource:
    log = src / "driving_log.csv" if src.is_dir() else src
    base = log.parent
    camera = camera or "center"
    if camera not in CAMERA_CHOICES:
        raise InputError(None, f"--camera: expected one of {', '.join(CAMERA_CHOICES)} for udacity-sim, got {camera!r}")
    rows = read_csv(log, what="driving log")
    if rows and len(rows[0].values) > 3 and rows[0].values[3].strip().lower() == "steering":
        rows = rows[1:]  # the sample data Udacity shipped has a header row
    require_rows(log, rows, ",".join(COLUMNS))

    paths: dict[str, list[Path]] = {"center": [], "left": [], "right": []}
    times, lines = [], []
    signals: dict[str, list[float]] = {"steering": [], "throttle": [], "brake": [], "speed": []}
    for row in rows:
        if len(row.values) < len(COLUMNS):
            raise InputError(log, f"expected {len(COLUMNS)} columns {','.join(COLUMNS)}, found "
                                  f"{len(row.values)}", row=row.line)
        for k, name in enumerate(("center", "left", "right")):
            paths[name].append(locate_image(base, row.values[k]))
        for k, name in enumerate(("steering", "throttle", "brake", "speed"), start=3):
            # NaN is parsed here; the writer skips the record (or, with --strict, refuses it naming the line).
            signals[name].append(number(log, row, k, name, finite=False))
        times.append(timestamp_s(log, row, paths["center"][-1].name))
        lines.append(row.line)

    t = np.asarray(times)
    chosen = ("center", "left", "right") if camera == "all" else (camera,)
    return ParsedSource(
        format="udacity-sim",
        path=src,
        log_path=log,
        rows=np.asarray(lines),
        timestamps_s=t - t[0],
        signals={k: np.asarray(v) for k, v in signals.items()},
        steering=Steering(kind="wheel_angle", unit="normalized", to_rad=MAX_ANGLE_RAD,
                          note="Udacity simulator steering in [-1, 1]; 1.0 is 25 degrees; positive steers right"),
        cameras=[CameraSource(name=c, side=c, frames=ImageFiles(paths[c])) for c in chosen],
        details={"start_time_utc": dt.datetime.fromtimestamp(t[0], dt.UTC).isoformat(), "camera": camera},
    )
