"""Which records an import skips, and the gaps they leave.

Recordings as people have them are messy: a donkeycar tub whose images were never copied, a card that
filled up mid-write, a NaN in a log. An import keeps what is there: a record whose image is missing or
does not decode, or whose steering (or another signal) is not a finite number in its unit's range, is
skipped; the gap it leaves starts a new segment, so no recurrent state ever runs across it. The import
counts what it skipped by reason and names the first few (file and line) in the recording's manifest.
With `strict` the first such record is an error instead, the same one-line error as before skipping
existed. A recording that ends up empty is always an error.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.data.importers.source import ImageFiles, ParsedSource
from timesteer.errors import InputError

# Physical limits of each steering unit, beyond which a value is a logging error, not a steer: the
# normalised units are [-1, 1] by definition; three turns of a steering wheel each way is past any
# production car's lock (1.5-2 turns), in degrees and in radians (the Udacity challenge's angle is the
# steering wheel's).
STEERING_LIMITS = {"normalized": 1.0, "deg_wheel": 1080.0, "rad": 6 * math.pi}
NAMED = 3  # skipped records named in the summary


@dataclass
class Skip:
    """One skipped record: where it is (file, line) and why."""

    path: Path
    line: int | None
    reason: str  # a short class for counting: "image not found", "steering not finite", ...
    detail: str  # the whole sentence, as the strict error would say it

    def where(self) -> str:
        return f"{self.path.name} line {self.line}" if self.line is not None else self.path.name


@dataclass
class Skips:
    """Skipped records of one import. `add` raises the record's error instead when `strict`."""

    strict: bool = False
    found: list[Skip] = field(default_factory=list)

    def add(self, error: InputError, reason: str, *, at: tuple[Path, int] | None = None,
            detail: str | None = None) -> None:
        """Skip a record (or raise `error` when strict). `at` is the (log file, line) naming the record when
        the error names another file (an image); `detail` a shorter sentence than the error's."""
        if self.strict:
            raise error
        path, line = at if at is not None else (Path(str(error.path)), error.row)
        self.found.append(Skip(path, line, reason, detail or error.message))

    def __len__(self) -> int:
        return len(self.found)

    def summary(self, total: int) -> dict[str, Any]:
        """What the manifest keeps: counts by reason and the first few, for `info` and the import's line."""
        return {"records": len(self.found), "of": total,
                "by_reason": dict(Counter(s.reason for s in self.found).most_common()),
                "first": [f"{s.where()}: {s.detail}" for s in self.found[:NAMED]]}


def describe(summary: dict[str, Any]) -> str:
    """One line for a person: '3 of 40 records (image not found 2, ...); first: ...'."""
    reasons = ", ".join(f"{why} {count}" for why, count in summary["by_reason"].items())
    return (f"{summary['records']} of {summary['of']} records ({reasons}); first: "
            + "; ".join(summary["first"]))


def screen_signals(parsed: ParsedSource, skips: Skips) -> np.ndarray:
    """A mask of the frames whose timestamp and signals are usable; the others are added to `skips`.
    Vectorised over the columns; only the (usually few) bad rows are looked at one by one."""
    n = len(parsed)
    limit = STEERING_LIMITS.get(parsed.steering.unit)
    columns = [("timestamp", np.asarray(parsed.timestamps_s, dtype=np.float64)),
               *((k, np.asarray(v, dtype=np.float64)) for k, v in parsed.signals.items())]
    bad = np.zeros(n, dtype=bool)
    for name, values in columns:
        bad |= ~np.isfinite(values)
        if name == "steering" and limit is not None:
            with np.errstate(invalid="ignore"):
                bad |= np.abs(values) > limit * (1 + 1e-6)
    for i in np.flatnonzero(bad):
        for name, values in columns:
            problem = _problem(name, float(values[i]), limit, parsed.steering.unit)
            if problem is not None:
                path, line = parsed.locate(int(i))
                skips.add(InputError(path, problem[1], row=line), problem[0])
                break
    return ~bad


def _problem(name: str, value: float, limit: float | None, unit: str) -> tuple[str, str] | None:
    if not math.isfinite(value):
        return f"{name} not finite", f"{name} is {value}: expected a finite number"
    if name == "steering" and limit is not None and abs(value) > limit * (1 + 1e-6):
        return "steering out of range", (f"steering is {value:g}: expected at most {limit:g} either way for "
                                         f"{unit} steering")
    return None


def screen_files(parsed: ParsedSource, ok: np.ndarray, skips: Skips) -> None:
    """Clear `ok` for frames whose image file (in any camera) is not there, before anything decodes."""
    for cam in parsed.cameras:
        if not isinstance(cam.frames, ImageFiles):
            continue
        for i in np.flatnonzero(ok):
            image = cam.frames.paths[i]
            if not image.is_file():
                path, line = parsed.locate(int(i))
                skips.add(InputError(image, f"image file not found (named on line {line} of {path.name})"),
                          "image not found", at=(path, line), detail=f"{short_name(image)} not found")
                ok[i] = False


def short_name(image: Path) -> str:
    """`IMG/center_....jpg`: enough of an image's path to find it beside its log."""
    return f"{image.parent.name}/{image.name}"


def keep_with_breaks(parsed: ParsedSource, keep: np.ndarray) -> ParsedSource:
    """`parsed` with only frames `keep` (ascending); a new segment starts after every hole, and at every
    break the source already had."""
    keep = np.asarray(keep, dtype=np.int64)
    if len(keep) == len(parsed):
        return parsed
    holes = np.flatnonzero(np.diff(keep) != 1) + 1
    old = parsed.forced_breaks if parsed.forced_breaks is not None else np.zeros(0, dtype=np.int64)
    mapped = np.searchsorted(keep, np.asarray(old, dtype=np.int64))
    breaks = np.unique(np.concatenate([holes, mapped]))
    breaks = breaks[(breaks > 0) & (breaks < len(keep))]
    return parsed.subset(keep, breaks)


def require_some(parsed: ParsedSource, keep: np.ndarray, skips: Skips, total: int) -> None:
    """Skipping never yields an empty recording: say what happened to every record instead."""
    if len(keep) == 0:
        raise InputError(parsed.log_path, f"nothing to import: every record was skipped, "
                                          f"{describe(skips.summary(total))}")
