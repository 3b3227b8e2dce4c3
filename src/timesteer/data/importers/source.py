"""What an importer produces: a parsed source, before any image is decoded.

Each format's importer only reads its log and says where the frames are (`ImageFiles` or
`VideoFrames`) and what the signals are; `write.py` does the checking, decoding, resizing,
segmenting and atomic writing for all of them.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.data.manifest import DashcamView, Steering, TopDownView
from timesteer.errors import InputError


@dataclass
class ImageFiles:
    """One image file per frame, in frame order."""

    paths: list[Path]


@dataclass
class VideoFrames:
    """Frames `indexes` (ascending, in display order) of the video at `path`."""

    path: Path
    indexes: np.ndarray


@dataclass
class VideoFiles:
    """Frames spread over several videos (a LeRobot dataset's chunks): frame i is frame `indexes[i]`
    (display order) of `paths[file_of[i]]`. Within a run of frames from one file, indexes ascend."""

    paths: list[Path]
    file_of: np.ndarray
    indexes: np.ndarray

    def runs(self) -> list[tuple[int, int]]:
        """(start, stop) of each run of consecutive frames read from one file."""
        cuts = np.flatnonzero(np.diff(self.file_of) != 0) + 1
        edges = [0, *cuts.tolist(), len(self.file_of)]
        return list(itertools.pairwise(edges))


FrameSource = ImageFiles | VideoFrames | VideoFiles


@dataclass
class CameraSource:
    name: str
    frames: FrameSource
    side: str | None = None


@dataclass
class ParsedSource:
    format: str
    path: Path
    log_path: Path
    rows: np.ndarray  # log line number of each frame, for error messages
    timestamps_s: np.ndarray
    signals: dict[str, np.ndarray]  # at least "steering"; optional speed, throttle, brake, torque
    steering: Steering
    cameras: list[CameraSource]
    forced_breaks: np.ndarray | None = None  # frame indexes where a new segment must start
    details: dict[str, Any] = field(default_factory=dict)
    row_files: list[Path] | None = None  # per-frame log file, when the log spans several files
    fps: float | None = None  # the nominal rate, when the source has no timestamps of its own
    # Where the camera sees the car (from above, or a dashcam), in the source's pixels (data/push.py)
    view: TopDownView | DashcamView | None = None

    def __len__(self) -> int:
        return len(self.timestamps_s)

    def locate(self, i: int) -> tuple[Path, int]:
        """(log file, line) that describes frame i."""
        path = self.row_files[i] if self.row_files is not None else self.log_path
        return path, int(self.rows[i])

    def subset(self, keep: np.ndarray, forced_breaks: np.ndarray | None) -> ParsedSource:
        """The same source with only frames `keep` (ascending indexes), e.g. after resampling."""
        cameras = []
        for cam in self.cameras:
            frames: FrameSource
            if isinstance(cam.frames, ImageFiles):
                frames = ImageFiles([cam.frames.paths[i] for i in keep])
            elif isinstance(cam.frames, VideoFiles):
                frames = VideoFiles(cam.frames.paths, cam.frames.file_of[keep], cam.frames.indexes[keep])
            else:
                frames = VideoFrames(cam.frames.path, cam.frames.indexes[keep])
            cameras.append(CameraSource(cam.name, frames, cam.side))
        return ParsedSource(
            format=self.format, path=self.path, log_path=self.log_path, rows=self.rows[keep],
            timestamps_s=self.timestamps_s[keep], signals={k: v[keep] for k, v in self.signals.items()},
            steering=self.steering, cameras=cameras, forced_breaks=forced_breaks, details=dict(self.details),
            row_files=[self.row_files[i] for i in keep] if self.row_files is not None else None, fps=self.fps,
            view=self.view)


@dataclass
class CsvRow:
    line: int
    values: list[str]


def read_csv(path: Path, *, what: str) -> list[CsvRow]:
    """All non-blank rows of a CSV with the 1-based line each starts on; errors name the file and line.

    A quoted field may span lines; an unbalanced quote swallows every line after it, so the row's own
    first line is what an error must name, not where the reader stopped."""
    if not path.is_file():
        raise InputError(path, f"{what} not found")
    rows: list[CsvRow] = []
    start = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            for values in reader:
                if values and any(v.strip() for v in values):
                    rows.append(CsvRow(start, [v.strip() for v in values]))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise InputError(path, f"could not read {what}: not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    except csv.Error as exc:
        raise InputError(path, f"could not read {what} as CSV ({exc}); check the quotes", row=start) from None
    except OSError as exc:
        raise InputError(path, f"could not read {what} ({exc.strerror or exc})") from None
    for row in rows:
        if any("\n" in v or "\r" in v for v in row.values):
            raise InputError(path, "a quoted field runs over several lines; check the quotes on this line",
                             row=row.line)
    return rows


def header_index(path: Path, header: CsvRow, required: list[str]) -> dict[str, int]:
    """Map of column name -> position, raising for a missing required column."""
    names = [h.strip().lower() for h in header.values]
    index = {name: i for i, name in enumerate(names)}
    for name in required:
        if name not in index:
            raise InputError(path, f"missing column {name!r}: expected columns {', '.join(required)}, "
                                   f"found {', '.join(names)}", row=header.line)
    return index


def number(path: Path, row: CsvRow, position: int, column: str, *, finite: bool = True) -> float:
    """The float in `row` at `position`, or an InputError naming file, line and column."""
    if position >= len(row.values):
        raise InputError(path, f"missing column {column!r} (row has {len(row.values)} values)", row=row.line)
    text = row.values[position]
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"column {column!r}: expected a number, got {text!r}", row=row.line) from None
    if finite and not math.isfinite(value):
        raise InputError(path, f"column {column!r}: expected a finite number, got {text!r}", row=row.line)
    return value


def require_rows(path: Path, rows: list[CsvRow], what: str) -> None:
    if not rows:
        raise InputError(path, f"empty log: expected at least one row of {what}")


Locate = Callable[[int], tuple[Path, int]]


def lines_of(path: Path, rows: np.ndarray) -> Locate:
    return lambda i: (path, int(rows[i]))


def check_time_order(timestamps_s: np.ndarray, locate: Locate) -> None:
    """Timestamps must never go backwards; name the first line where they do."""
    back = np.flatnonzero(np.diff(timestamps_s) < 0)
    if len(back):
        i = int(back[0]) + 1
        path, line = locate(i)
        raise InputError(path, f"timestamp goes backwards: {timestamps_s[i]:.6f} s after "
                               f"{timestamps_s[i - 1]:.6f} s on the previous row; expected time order", row=line)
