"""DeepTesla (MIT 6.S094): `epochNN_front.mkv` + `epochNN_steering.csv` (`ts_micro,frame_index,wheel`).

`wheel` is the steering-wheel angle in degrees; `frame_index` counts decoded video frames from 0.
SRC may be the CSV, the video, or a folder holding one epoch's pair.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from timesteer.data.importers.source import (
    CameraSource,
    ParsedSource,
    VideoFrames,
    header_index,
    number,
    read_csv,
    require_rows,
)
from timesteer.data.manifest import Steering
from timesteer.errors import InputError

PAIR = re.compile(r"^(epoch\d+)_(front\.\w+|steering\.csv)$")


def find_pair(src: Path) -> tuple[Path, Path]:
    """(video, csv) of one epoch from SRC."""
    if src.is_dir():
        epochs = sorted({m.group(1) for p in src.iterdir() if (m := PAIR.match(p.name))})
        if len(epochs) != 1:
            raise InputError(src, f"expected one epoch's epochNN_front.mkv + epochNN_steering.csv here, found "
                                  f"{epochs or 'none'}; pass one epoch's CSV instead")
        stem, folder = epochs[0], src
    else:
        m = PAIR.match(src.name)
        if not m:
            raise InputError(src, "expected a file named epochNN_steering.csv or epochNN_front.mkv")
        stem, folder = m.group(1), src.parent
    csv_path = folder / f"{stem}_steering.csv"
    videos = sorted(folder.glob(f"{stem}_front.*"))
    if not videos:
        raise InputError(folder / f"{stem}_front.mkv", "video file not found")
    return videos[0], csv_path


def parse(src: Path, **_: object) -> ParsedSource:
    video, log = find_pair(src)
    rows = read_csv(log, what="steering CSV")
    require_rows(log, rows, "ts_micro,frame_index,wheel")
    col = header_index(log, rows[0], ["ts_micro", "frame_index", "wheel"])
    data = rows[1:]
    require_rows(log, data, "ts_micro,frame_index,wheel")
    t = np.asarray([number(log, r, col["ts_micro"], "ts_micro") for r in data]) * 1e-6
    idx = np.asarray([number(log, r, col["frame_index"], "frame_index") for r in data])
    wheel = np.asarray([number(log, r, col["wheel"], "wheel", finite=False) for r in data])
    lines = np.asarray([r.line for r in data])
    bad = np.flatnonzero((idx != np.round(idx)) | (idx < 0))
    if len(bad):
        raise InputError(log, f"frame_index: expected a whole number >= 0, got {idx[bad[0]]}", row=int(lines[bad[0]]))
    step = np.flatnonzero(np.diff(idx) <= 0)
    if len(step):
        i = int(step[0]) + 1
        raise InputError(log, f"frame_index {int(idx[i])} does not increase after {int(idx[i - 1])}",
                         row=int(lines[i]))
    return ParsedSource(
        format="deeptesla",
        path=src,
        log_path=log,
        rows=lines,
        timestamps_s=t - t[0],
        signals={"steering": wheel},
        steering=Steering(kind="wheel_angle", unit="deg_wheel", to_rad=None,
                          note="Tesla steering-wheel degrees; positive steers right; steering ratio unknown"),
        cameras=[CameraSource(name="front", frames=VideoFrames(video, idx.astype(np.int64)))],
        details={"video": str(video.absolute()), "epoch": log.name.split("_")[0]},
    )
