"""Atomic recording writer: everything goes to a temporary directory beside DEST, renamed at the end.

A failed or interrupted import leaves nothing at DEST (only, at worst, a hidden `.DEST.tmp-*`
directory that the next import of the same DEST removes).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np

from timesteer import __version__
from timesteer.data.manifest import MANIFEST_FILE, SIGNALS_FILE, Manifest
from timesteer.errors import InputError

# Column order in signals.csv; optional columns appear only when the source has them.
SIGNAL_ORDER = ("timestamp_s", "steering", "segment", "speed", "throttle", "brake", "torque")
SIGNAL_FORMATS = {"timestamp_s": "%.6f", "segment": "%d"}


def check_destination(dest: Path, overwrite: bool) -> None:
    if dest.exists() and not overwrite:
        raise InputError(dest, "destination already exists; choose a new path or pass --overwrite")
    if dest.exists() and not (dest / MANIFEST_FILE).is_file():
        # --overwrite replaces recordings, never arbitrary directories a typo might point at.
        raise InputError(dest, "destination exists and is not a timesteer recording; refusing to overwrite it")


class RecordingWriter:
    """Use as a context manager: `with RecordingWriter(dest) as w: ...; w.commit(manifest, signals)`."""

    def __init__(self, dest: str | Path, overwrite: bool = False) -> None:
        self.dest = Path(dest).absolute()
        check_destination(self.dest, overwrite)
        self.overwrite = overwrite
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.dest.parent.glob(f".{self.dest.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.tmp = self.dest.parent / f".{self.dest.name}.tmp-{uuid.uuid4().hex[:8]}"
        self.tmp.mkdir()
        self._files: list[FrameFile] = []
        self.committed = False

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.committed:
            self.abort()

    def frames(self, file: str, count: int, height: int, width: int, channels: int = 3) -> FrameFile:
        """A sequential writer of `count` uint8 frames (height, width, channels) into `file` (.npy)."""
        frame_file = FrameFile(self.tmp / file, (count, height, width, channels))
        self._files.append(frame_file)
        return frame_file

    def commit(self, manifest: Manifest, signals: dict[str, np.ndarray]) -> Path:
        for frame_file in self._files:
            frame_file.close()
        self._files.clear()
        manifest.created_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest.timesteer_version = __version__
        columns = [c for c in SIGNAL_ORDER if c in signals] + sorted(set(signals) - set(SIGNAL_ORDER))
        manifest.signals = columns
        manifest.validate(self.dest / MANIFEST_FILE)
        write_signals(self.tmp / SIGNALS_FILE, signals, columns)
        (self.tmp / MANIFEST_FILE).write_text(manifest.to_json())
        trash = None
        if self.dest.exists():
            check_destination(self.dest, self.overwrite)
            trash = self.dest.parent / f".{self.dest.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.dest, trash)
        os.replace(self.tmp, self.dest)
        self.committed = True
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.dest

    def abort(self) -> None:
        for frame_file in self._files:
            frame_file.fh.close()
        self._files.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


class FrameFile:
    """Append frames to a .npy file with plain writes: resident memory stays flat however many frames
    (pages written through a memory map would count as resident until the kernel writes them back)."""

    def __init__(self, path: Path, shape: tuple[int, int, int, int]) -> None:
        self.path = path
        self.shape = shape
        self.written = 0
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close() or the writer's abort()
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(self.fh, header)

    def write(self, frames: np.ndarray) -> None:
        if frames.shape[1:] != self.shape[1:] or frames.dtype != np.uint8:
            raise ValueError(f"frames {frames.dtype}{frames.shape} do not fit {self.shape}")
        if self.written + len(frames) > self.shape[0]:
            raise ValueError(f"{self.path.name}: more than {self.shape[0]} frames written")
        self.fh.write(np.ascontiguousarray(frames).tobytes())
        self.written += len(frames)

    def close(self) -> None:
        if self.fh.closed:
            return
        self.fh.close()
        if self.written != self.shape[0]:
            raise ValueError(f"{self.path.name}: {self.written} frames written, {self.shape[0]} expected")


def write_signals(path: Path, signals: dict[str, np.ndarray], columns: list[str]) -> None:
    n = len(signals["timestamp_s"])
    for name in columns:
        if len(signals[name]) != n:
            raise ValueError(f"signal {name} has {len(signals[name])} rows, expected {n}")
    table = np.column_stack([np.asarray(signals[c], dtype=np.float64) for c in columns]) if n else None
    fmt = [SIGNAL_FORMATS.get(c, "%.9g") for c in columns]
    with open(path, "w", newline="") as fh:
        fh.write(",".join(columns) + "\n")
        if table is not None:
            np.savetxt(fh, table, delimiter=",", fmt=fmt)
