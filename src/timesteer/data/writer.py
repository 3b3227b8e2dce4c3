"""Atomic recording writer: everything goes to a temporary directory beside DEST, renamed at the end.

A failed or interrupted import leaves nothing at DEST (only, at worst, a hidden `.DEST.tmp-*`
directory that the next import of the same DEST removes).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
from pathlib import Path
from types import TracebackType

import numpy as np

from timesteer import __version__
from timesteer.data.manifest import FORMAT_NAME, MANIFEST_FILE, SIGNALS_FILE, Manifest
from timesteer.data.videostore import VideoFrameFile, is_video
from timesteer.errors import InputError
from timesteer.files import atomic_write, hold, lock_for, sweep_leftovers, temp_sibling, write_text

# Column order in signals.csv; optional columns appear only when the source has them.
SIGNAL_ORDER = ("timestamp_s", "steering", "segment", "speed", "throttle", "brake", "torque")
SIGNAL_FORMATS = {"timestamp_s": "%.6f", "segment": "%d"}


def is_recording(path: Path) -> bool:
    """True when `path` is a directory whose manifest says it is a timesteer recording. A donkeycar tub
    also holds a `manifest.json`; only ours may ever be replaced."""
    manifest = path / MANIFEST_FILE
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT_NAME


def check_destination(dest: Path, overwrite: bool, sources: tuple[Path, ...] = ()) -> None:
    """DEST may be new, or (with --overwrite) an existing timesteer recording that is not, and does not
    hold, any source being read."""
    dest_r = dest.resolve()
    for src in sources:
        src_r = src.resolve()
        if src_r == dest_r or dest_r in src_r.parents:
            raise InputError(dest, f"is (or holds) the source {src}; write the recording somewhere else")
    if dest.exists() and not dest.is_dir():
        raise InputError(dest, "is a file; expected a new directory for the recording")
    if dest.exists() and not overwrite:
        raise InputError(dest, "destination already exists; choose a new path or pass --overwrite")
    if dest.exists() and not is_recording(dest):
        # --overwrite replaces recordings, never arbitrary directories a typo might point at.
        raise InputError(dest, "destination exists and is not a timesteer recording; refusing to overwrite it")
    if dest.exists():
        foreign = sorted(p.name for p in dest.iterdir() if p.name not in _recording_files(dest))
        if foreign:
            # Replacing the directory would delete what someone else put there (a run trained with
            # `--out REC`, a user's notes): only a recording's own files may go.
            raise InputError(dest, f"holds {foreign[0]!r}{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}"
                                   f", which is not part of the recording; move it out first (nothing was changed)")


def _recording_files(dest: Path) -> set[str]:
    """The names an import writes into a recording: its manifest, its signals and the frame files the
    manifest lists."""
    names = {MANIFEST_FILE, SIGNALS_FILE}
    try:
        cameras = json.loads((dest / MANIFEST_FILE).read_text(encoding="utf-8")).get("cameras", [])
        names.update(c["file"] for c in cameras if isinstance(c, dict) and isinstance(c.get("file"), str))
    except (OSError, ValueError, AttributeError):
        pass
    return names


class RecordingWriter:
    """Use as a context manager: `with RecordingWriter(dest) as w: ...; w.commit(manifest, signals)`.

    While it is open it holds a lock on DEST (a second import or record-sim to the same DEST fails at
    once, naming the holder); everything is written in a hidden temporary directory beside DEST that
    becomes DEST in one rename on commit, and is removed on any error, Ctrl-C or termination signal."""

    def __init__(self, dest: str | Path, overwrite: bool = False, sources: tuple[Path, ...] = ()) -> None:
        self.dest = Path(dest).absolute()
        check_destination(self.dest, overwrite, sources)
        self.overwrite = overwrite
        self.sources = sources
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._lock = hold(lock_for(self.dest), str(self.dest))
        self._lock.__enter__()
        try:
            # Only a holder of the lock may clear what a killed import left behind.
            for stale in self.dest.parent.glob(f".{glob.escape(self.dest.name)}.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            sweep_leftovers(self.dest)
            self.tmp = temp_sibling(self.dest)
            self.tmp.mkdir()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self._files: list[FrameFile | VideoFrameFile] = []
        self.committed = False

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self.committed:
                self.abort()
        finally:
            self._lock.__exit__(None, None, None)

    def frames(self, file: str, count: int, height: int, width: int, channels: int = 3,
               fps: float = 20.0) -> FrameFile | VideoFrameFile:
        """A sequential writer of `count` uint8 frames (height, width, channels) into `file`: raw (.npy) or
        the video store (.mp4, played at `fps`)."""
        shape = (count, height, width, channels)
        frame_file = VideoFrameFile(self.tmp / file, shape, fps) if is_video(file) else FrameFile(self.tmp / file,
                                                                                                   shape)
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
        write_text(self.tmp / MANIFEST_FILE, manifest.to_json())
        trash = None
        if self.dest.exists():
            check_destination(self.dest, self.overwrite, self.sources)
            trash = temp_sibling(self.dest, "old")
            os.replace(self.dest, trash)
        os.replace(self.tmp, self.dest)
        self.committed = True
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.dest

    def abort(self) -> None:
        for frame_file in self._files:
            frame_file.abort()
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

    def abort(self) -> None:
        self.fh.close()

    def close(self) -> None:
        if self.fh.closed:
            return
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        if self.written != self.shape[0]:
            raise ValueError(f"{self.path.name}: {self.written} frames written, {self.shape[0]} expected")

    def keep_only(self, keep: np.ndarray) -> None:
        """After close: keep frames `keep` (ascending indexes), in place. Frames only move towards the
        start, so one forward pass through a memory map is safe; the header is rewritten at its old
        length (the shape only loses digits) and the file cut after the last frame kept."""
        if not self.fh.closed:
            raise ValueError(f"{self.path.name}: close before keep_only")
        keep = np.asarray(keep, dtype=np.int64)
        frames = np.load(self.path, mmap_mode="r+")
        offset = frames.offset
        for start in range(0, len(keep), 256):
            part = keep[start:start + 256]
            frames[start:start + len(part)] = frames[part]
        frames.flush()
        del frames
        shape = (len(keep), *self.shape[1:])
        with open(self.path, "r+b") as fh:
            fh.write(_npy_header(shape, offset))
            fh.truncate(offset + int(np.prod(shape)))
            fh.flush()
            os.fsync(fh.fileno())
        self.shape = shape  # type: ignore[assignment]
        self.written = len(keep)


def _npy_header(shape: tuple[int, ...], length: int) -> bytes:
    """A .npy 2.0 header for uint8 frames of `shape`, padded with spaces to exactly `length` bytes."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape!r}, }}"
    prefix = b"\x93NUMPY\x02\x00"
    room = length - len(prefix) - 4
    body = (text + " " * (room - len(text) - 1) + "\n").encode("latin1")
    if len(body) != room:
        raise ValueError(f"header for {shape} does not fit in {length} bytes")
    return prefix + len(body).to_bytes(4, "little") + body


def write_signals(path: Path, signals: dict[str, np.ndarray], columns: list[str]) -> None:
    n = len(signals["timestamp_s"])
    for name in columns:
        if len(signals[name]) != n:
            raise ValueError(f"signal {name} has {len(signals[name])} rows, expected {n}")
    table = np.column_stack([np.asarray(signals[c], dtype=np.float64) for c in columns]) if n else None
    fmt = [SIGNAL_FORMATS.get(c, "%.9g") for c in columns]
    with atomic_write(path) as fh:
        fh.write(",".join(columns) + "\n")
        if table is not None:
            np.savetxt(fh, table, delimiter=",", fmt=fmt)
