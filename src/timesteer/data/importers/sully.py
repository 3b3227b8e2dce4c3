"""SullyChen's driving dataset: `data.txt` with lines `NNN.jpg angle_degrees` beside the images.

Later releases append `,YYYY-MM-DD HH:MM:SS:mmm` to the angle; we use it as the timestamp when present.
Otherwise frames are taken as evenly spaced at `fps` (default 30).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from timesteer.data.importers.source import CameraSource, CsvRow, ImageFiles, ParsedSource, number, require_rows
from timesteer.data.manifest import Steering
from timesteer.errors import InputError

DEFAULT_FPS = 30.0


def _rows(path: Path) -> list[CsvRow]:
    if not path.is_file():
        raise InputError(path, "data.txt not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is allowed
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, f"could not read it ({exc.strerror or exc})") from None
    return [CsvRow(k, line.split(None, 1)) for k, line in enumerate(text.splitlines(), start=1) if line.strip()]


def parse(src: Path, fps: float | None = None, **_: object) -> ParsedSource:
    log = src / "data.txt" if src.is_dir() else src
    base = log.parent
    rows = _rows(log)
    require_rows(log, rows, "`NNN.jpg angle_degrees`")
    paths, angles, stamps, lines = [], [], [], []
    for row in rows:
        if len(row.values) != 2:
            raise InputError(log, "expected `NNN.jpg angle_degrees`", row=row.line)
        name, rest = row.values
        angle_text, _, when = rest.strip().partition(",")
        angles.append(number(log, CsvRow(row.line, [angle_text]), 0, "angle_degrees", finite=False))
        paths.append(base / name)
        lines.append(row.line)
        if when:
            try:
                stamps.append(dt.datetime.strptime(when.strip(), "%Y-%m-%d %H:%M:%S:%f")
                              .replace(tzinfo=dt.UTC).timestamp())
            except ValueError:
                raise InputError(log, f"expected a time like 2018-07-01 17:09:44:912 after the angle, got "
                                      f"{when.strip()!r}", row=row.line) from None
    if stamps and len(stamps) != len(rows):
        raise InputError(log, "some lines have a timestamp and some do not; expected all or none")
    details, rate = {}, None
    if stamps:
        t = np.asarray(stamps) - stamps[0]
    else:
        rate = fps or DEFAULT_FPS
        t = np.arange(len(rows)) / rate
        details = {"fps_assumed": rate}
    return ParsedSource(
        format="sully",
        path=src,
        log_path=log,
        rows=np.asarray(lines),
        timestamps_s=t,
        signals={"steering": np.asarray(angles)},
        steering=Steering(kind="wheel_angle", unit="deg_wheel", to_rad=None,
                          note="steering-wheel degrees; the car's steering ratio is not recorded"),
        cameras=[CameraSource(name="center", frames=ImageFiles(paths))],
        details=details,
        fps=rate,
    )
