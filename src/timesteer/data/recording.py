"""Open a recording directory: manifest, per-frame signals, and memory-mapped frames.

    rec = Recording.open("REC")
    rec.frames            # np.memmap uint8 (N, H, W, C), nothing decoded, nothing loaded up front
                          # (or, for `--store video`, VideoFrames: decoded when indexed)
    rec.steering          # float64 (N,), in rec.manifest.steering.unit
    rec.signals["speed"]  # any other column of signals.csv
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timesteer.data.manifest import MANIFEST_FILE, SIGNALS_FILE, Manifest, Segment, read_manifest
from timesteer.data.videostore import VideoFrames, is_video
from timesteer.errors import InputError


@dataclass
class Recording:
    path: Path
    manifest: Manifest
    signals: dict[str, np.ndarray]
    _frames: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> Recording:
        path = Path(path)
        if not path.is_dir():
            raise InputError(path, "recording not found: expected a directory made by `timesteer import`")
        manifest = read_manifest(path)
        signals = read_signals(path / SIGNALS_FILE, manifest.frames)
        for required in ("timestamp_s", "steering"):
            if required not in signals:
                raise InputError(path / SIGNALS_FILE, f"missing column {required!r}")
        rec = cls(path=path, manifest=manifest, signals=signals)
        for cam in manifest.cameras:  # memory-mapped, so cheap: sizes checked now, not mid-training
            rec.camera_frames(cam.name)
        return rec

    def __len__(self) -> int:
        return self.manifest.frames

    @property
    def frames(self) -> np.ndarray:
        """Primary camera frames, uint8 (N, H, W, C), memory-mapped."""
        return self.camera_frames(None)

    def camera_frames(self, camera: str | None) -> np.ndarray:
        """A camera's frames, uint8 (N, H, W, C): memory-mapped `.npy`, or the video store's `VideoFrames`
        (decoded on demand; the same indexing)."""
        cam = self.manifest.camera(camera)
        if cam.name not in self._frames and is_video(cam.file):
            g = self.manifest.frame
            self._frames[cam.name] = VideoFrames(self.path / cam.file,  # type: ignore[assignment]
                                                 (self.manifest.frames, g.height, g.width, g.channels))
        if cam.name not in self._frames:
            file = self.path / cam.file
            try:
                array = np.load(file, mmap_mode="r")
            except EOFError:
                raise InputError(file, "empty: expected a .npy frame array (was it truncated?)") from None
            except (OSError, ValueError) as exc:
                raise InputError(file, f"could not open the frame array ({_first_line(exc)}; is it truncated?)") \
                    from None
            g = self.manifest.frame
            expected = (self.manifest.frames, g.height, g.width, g.channels)
            if array.shape != expected or array.dtype != np.uint8:
                raise InputError(file, f"expected uint8 frames of shape {expected}, found {array.dtype} {array.shape}")
            self._frames[cam.name] = array
        return self._frames[cam.name]

    @property
    def steering(self) -> np.ndarray:
        return self.signals["steering"]

    @property
    def timestamps_s(self) -> np.ndarray:
        return self.signals["timestamp_s"]

    @property
    def segments(self) -> list[Segment]:
        return self.manifest.segments

    def has_signal(self, name: str) -> bool:
        return name in self.signals

    def fingerprint(self) -> str:
        """A short hash of the manifest and the signals table: it changes when the recording is imported
        again with other frames or labels (the manifest's creation time, sizes and segments are in it),
        so a resumed training can tell it is not reading what it started on."""
        digest = hashlib.sha256()
        for name in (MANIFEST_FILE, SIGNALS_FILE):
            try:
                digest.update((self.path / name).read_bytes())
            except OSError as exc:
                raise InputError(self.path / name, f"could not read it ({exc.strerror or exc})") from None
        return digest.hexdigest()[:16]


def read_signals(path: Path, expected_rows: int) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(path, "signals table not found")
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline().strip().split(",")
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (ValueError, OSError) as exc:
        raise InputError(path, f"expected numeric columns {header} ({_first_line(exc)})") from None
    if not np.isfinite(table).all():
        row = int(np.argwhere(~np.isfinite(table))[0][0])
        raise InputError(path, "expected finite numbers", row=row + 2)
    if expected_rows == 0:
        table = np.zeros((0, len(header)))
    if table.shape != (expected_rows, len(header)):
        raise InputError(path, f"expected {expected_rows} rows of {len(header)} columns, found {table.shape}")
    if len(set(header)) != len(header) or not all(header):
        raise InputError(path, f"expected distinct column names in the header, got {header}", row=1)
    signals = {name: table[:, i].copy() for i, name in enumerate(header)}
    if "segment" in signals:
        signals["segment"] = signals["segment"].astype(np.int64)
    return signals


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
