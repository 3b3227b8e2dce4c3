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

from timesteer.data.importers.screen import Skips, describe
from timesteer.data.importers.source import CameraSource, ImageFiles, ParsedSource
from timesteer.data.manifest import Steering
from timesteer.errors import InputError

IMAGE_KEY = "cam/image_array"
ANGLE_KEY = "user/angle"
THROTTLE_KEY = "user/throttle"


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 file (a byte-order mark is allowed)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, f"could not read it ({exc.strerror or exc})") from None
    return [(k, ln) for k, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def _json(text: str, path: Path, line: int, what: str, *, constants: bool = False) -> Any:
    try:
        # NaN and Infinity are not JSON, though Python's writer emits them (donkeycar's catalogs can hold
        # them): refused in the manifest; in records they become floats, and the record is skipped
        # (or refused with --strict) when its timestamp or steering is one.
        return json.loads(text, parse_constant=float if constants else _refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"expected {what} ({exc.msg})", row=line) from None
    except ValueError as exc:
        raise InputError(path, f"expected {what} ({exc})", row=line) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _manifest(tub: Path) -> dict[str, Any]:
    path = tub / "manifest.json"
    if not path.is_file():
        raise InputError(path, "manifest.json not found: expected a donkeycar tub v2 folder")
    lines = _lines(path)
    if len(lines) < 5:
        raise InputError(path, f"expected 5 JSON lines (inputs, types, metadata, manifest metadata, catalog "
                               f"metadata), found {len(lines)}")
    parsed = [_json(text, path, k, "a JSON line") for k, text in lines[:5]]
    catalog, line = parsed[4], lines[4][0]
    if not isinstance(catalog, dict) or "paths" not in catalog:
        raise InputError(path, "expected catalog metadata, an object with 'paths'", row=line)
    paths = catalog["paths"]
    if not isinstance(paths, list) or not all(isinstance(p, str) and p and Path(p).name == p for p in paths):
        raise InputError(path, f"'paths': expected a list of catalog file names, got {paths!r:.80}", row=line)
    deleted = catalog.get("deleted_indexes", [])
    if not isinstance(deleted, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in deleted):
        raise InputError(path, f"'deleted_indexes': expected a list of whole numbers, got {deleted!r:.80}", row=line)
    return {"inputs": parsed[0], "catalog": catalog}


def _number(record: dict[str, Any], key: str, path: Path, line: int) -> float:
    if key not in record:
        raise InputError(path, f"missing field {key!r}", row=line)
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(path, f"field {key!r}: expected a finite number, got {value!r:.40}", row=line)
    return float(value)


def parse(src: Path, skips: Skips | None = None, **_: object) -> ParsedSource:
    skips = skips if skips is not None else Skips(strict=True)
    meta = _manifest(src)
    deleted = set(meta["catalog"].get("deleted_indexes", []))
    times, angles, throttles, paths, lines, sessions = [], [], [], [], [], []
    line_catalog: list[Path] = []
    cut_before = -1  # a record cut short leaves a hole: the next record starts a new segment
    for name in meta["catalog"]["paths"]:
        catalog = src / name
        if not catalog.is_file():
            raise InputError(catalog, "catalog file named in manifest.json not found")
        lines_of_catalog = _lines(catalog)
        for k, (line_no, text) in enumerate(lines_of_catalog):
            try:
                record = _json(text, catalog, line_no, "a JSON record", constants=True)
            except InputError as exc:
                if k < len(lines_of_catalog) - 1:
                    raise
                # The last line of a catalog cut short (the card filled up, the car lost power).
                skips.add(exc, "record cut short")
                cut_before = len(paths)
                continue
            if not isinstance(record, dict):
                raise InputError(catalog, f"expected a JSON object per line, got {type(record).__name__}",
                                 row=line_no)
            index = record.get("_index")
            if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
                raise InputError(catalog, f"field '_index': expected a whole number, got {index!r:.40}", row=line_no)
            if index in deleted:
                continue
            image = record.get(IMAGE_KEY)
            if not isinstance(image, str) or not image:
                raise InputError(catalog, f"field {IMAGE_KEY!r}: expected an image file name, got {image!r:.40}",
                                 row=line_no)
            times.append(_number(record, "_timestamp_ms", catalog, line_no) * 1e-3)
            angles.append(_number(record, ANGLE_KEY, catalog, line_no))
            throttles.append(_number(record, THROTTLE_KEY, catalog, line_no) if THROTTLE_KEY in record
                             else np.nan)
            paths.append(src / "images" / image)
            sessions.append(str(record.get("_session_id", "")))
            lines.append(line_no)
            line_catalog.append(catalog)
    if not paths and skips:
        raise InputError(src / "manifest.json", f"nothing to import: every record was skipped, "
                                                f"{describe(skips.summary(len(skips)))}")
    if not paths:
        raise InputError(src / "manifest.json", "empty log: expected at least one record that is not deleted")
    t = np.asarray(times)
    finite = t[np.isfinite(t)]  # a NaN timestamp is the writer's to skip; time counts from the first real one
    t0 = finite[0] if len(finite) else 0.0
    session_arr = np.asarray(sessions)
    breaks = np.flatnonzero(session_arr[1:] != session_arr[:-1]) + 1
    if 0 < cut_before < len(paths):
        breaks = np.union1d(breaks, [cut_before])
    signals = {"steering": np.asarray(angles)}
    if not np.all(np.isnan(throttles)):
        signals["throttle"] = np.asarray(throttles)
    return ParsedSource(
        format="donkey",
        path=src,
        log_path=line_catalog[0],
        rows=np.asarray(lines),
        timestamps_s=t - t0,
        signals=signals,
        steering=Steering(kind="wheel_angle", unit="normalized", to_rad=None,
                          note="donkeycar user/angle in [-1, 1]; the car's maximum angle is not recorded"),
        cameras=[CameraSource(name="cam", frames=ImageFiles(paths))],
        forced_breaks=breaks,
        details={"sessions": sorted(set(sessions)), "deleted_indexes": len(deleted)},
        row_files=line_catalog,
    )
