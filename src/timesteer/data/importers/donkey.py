"""donkeycar tub v2: `manifest.json`, `catalog_N.catalog` (JSON lines), `images/`.

`manifest.json` is five JSON lines: inputs, types, user metadata, manifest metadata, and catalog
metadata (`paths`, `current_index`, `max_len`, `deleted_indexes`). Records carry `_index`,
`_timestamp_ms`, `_session_id`, `cam/image_array` (a file under `images/`), `user/angle` in [-1, 1]
and `user/throttle`. Deleted indexes are skipped; each new `_session_id` starts a new segment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.data.importers.source import CameraSource, ImageFiles, ParsedSource
from timesteer.data.manifest import Steering
from timesteer.errors import InputError

IMAGE_KEY = "cam/image_array"
ANGLE_KEY = "user/angle"
THROTTLE_KEY = "user/throttle"


def _manifest(tub: Path) -> dict[str, Any]:
    path = tub / "manifest.json"
    if not path.is_file():
        raise InputError(path, "manifest.json not found: expected a donkeycar tub v2 folder")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(lines) < 5:
        raise InputError(path, f"expected 5 JSON lines (inputs, types, metadata, manifest metadata, catalog "
                               f"metadata), found {len(lines)}")
    try:
        parsed = [json.loads(ln) for ln in lines[:5]]
    except json.JSONDecodeError as exc:
        raise InputError(path, f"expected JSON ({exc.msg})", row=exc.lineno) from None
    catalog = parsed[4]
    if not isinstance(catalog, dict) or "paths" not in catalog:
        raise InputError(path, "line 5: expected catalog metadata with 'paths'", row=5)
    return {"inputs": parsed[0], "catalog": catalog}


def _number(record: dict[str, Any], key: str, path: Path, line: int) -> float:
    if key not in record:
        raise InputError(path, f"missing field {key!r}", row=line)
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(path, f"field {key!r}: expected a number, got {value!r}", row=line)
    return float(value)


def parse(src: Path, **_: object) -> ParsedSource:
    meta = _manifest(src)
    deleted = set(meta["catalog"].get("deleted_indexes", []))
    times, angles, throttles, paths, lines, sessions = [], [], [], [], [], []
    line_catalog: list[Path] = []
    for name in meta["catalog"]["paths"]:
        catalog = src / name
        if not catalog.is_file():
            raise InputError(catalog, "catalog file named in manifest.json not found")
        with open(catalog, encoding="utf-8") as fh:
            for line_no, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(catalog, f"expected a JSON record ({exc.msg})", row=line_no) from None
                if record.get("_index") in deleted:
                    continue
                if IMAGE_KEY not in record:
                    raise InputError(catalog, f"missing field {IMAGE_KEY!r}", row=line_no)
                times.append(_number(record, "_timestamp_ms", catalog, line_no) * 1e-3)
                angles.append(_number(record, ANGLE_KEY, catalog, line_no))
                throttles.append(_number(record, THROTTLE_KEY, catalog, line_no) if THROTTLE_KEY in record
                                 else np.nan)
                paths.append(src / "images" / str(record[IMAGE_KEY]))
                sessions.append(str(record.get("_session_id", "")))
                lines.append(line_no)
                line_catalog.append(catalog)
    if not paths:
        raise InputError(src / "manifest.json", "empty log: expected at least one record that is not deleted")
    t = np.asarray(times)
    session_arr = np.asarray(sessions)
    breaks = np.flatnonzero(session_arr[1:] != session_arr[:-1]) + 1
    signals = {"steering": np.asarray(angles)}
    if not np.all(np.isnan(throttles)):
        signals["throttle"] = np.asarray(throttles)
    return ParsedSource(
        format="donkey",
        path=src,
        log_path=line_catalog[0],
        rows=np.asarray(lines),
        timestamps_s=t - t[0],
        signals=signals,
        steering=Steering(unit="normalized", to_rad=None,
                          note="donkeycar user/angle in [-1, 1]; the car's maximum angle is not recorded"),
        cameras=[CameraSource(name="cam", frames=ImageFiles(paths))],
        forced_breaks=breaks,
        details={"sessions": sorted(set(sessions)), "deleted_indexes": len(deleted)},
        row_files=line_catalog,
    )
