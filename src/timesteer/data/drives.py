"""Many drives in: which recordings a user means, and their frames addressed as one.

`--data` (and `--val`) take any mix of
- a recording directory (it holds `manifest.json`);
- a directory holding recordings (every sub-directory that is one, in name order);
- a dataset file, `.json` or `.toml`, listing recordings with optional per-recording settings:

      # drives.toml (paths relative to this file)
      [[recordings]]
      path = "center"
      [[recordings]]
      path = "recover"
      weight = 2.0          # its chunks appear twice as often in an epoch
      val_fraction = 0.0    # train on all of it; hold out nothing

  or the same in JSON: `{"recordings": [{"path": "center"}, {"path": "recover", "weight": 2.0}]}`.

`FrameBank` reads frames of several memory-mapped recordings through one index, so memory does not
grow with the number of recordings and nothing is copied.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from timesteer.config import Multiplier, Range, from_dict, validate
from timesteer.data.manifest import MANIFEST_FILE
from timesteer.data.recording import Recording
from timesteer.errors import ConfigError, InputError

DATASET_SUFFIXES = (".json", ".toml")


@dataclass
class DriveEntry:
    """One recording named by the user, with its settings."""

    path: str
    weight: Annotated[float, Multiplier] = 1.0  # how often its chunks appear in an epoch, relative to others
    val_fraction: Annotated[float | None, Range(0, 1, open_max=True)] = None  # None: the run's --val-fraction

    def __post_init__(self) -> None:
        validate(self)


def _dataset_file(path: Path) -> list[DriveEntry]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"could not read the dataset file ({exc})") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(path, f"expected a dataset file in {path.suffix[1:].upper()} ({exc})") from None
    items = data.get("recordings") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise InputError(path, "expected a list `recordings` of recordings (a path each, optionally weight and "
                               "val_fraction)")
    entries = []
    for k, item in enumerate(items):
        raw: Any = {"path": item} if isinstance(item, str) else item
        try:
            entry = from_dict(DriveEntry, raw, where=f"recordings[{k}]")
        except ConfigError as exc:
            raise InputError(path, str(exc)) from None
        # Paths in a dataset file are relative to the file, so the file and its recordings move together.
        entry.path = str(path.parent / entry.path) if not Path(entry.path).is_absolute() else entry.path
        entries.append(entry)
    return entries


def resolve_drives(names: list[str]) -> list[DriveEntry]:
    """Recording directories, directories of recordings, and dataset files -> one entry per recording."""
    entries: list[DriveEntry] = []
    for name in names:
        path = Path(name)
        if path.is_file() and path.suffix.lower() in DATASET_SUFFIXES:
            entries += _dataset_file(path)
        elif path.is_dir() and (path / MANIFEST_FILE).is_file():
            entries.append(DriveEntry(str(path)))
        elif path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file())
            if not inside:
                raise InputError(path, "holds no recording: expected a recording directory, a directory of "
                                       "recordings, or a dataset file (.json, .toml)")
            entries += [DriveEntry(str(p)) for p in inside]
        elif path.exists():
            raise InputError(path, "expected a recording directory, a directory of recordings, or a dataset file "
                                   "(.json, .toml)")
        else:
            raise InputError(path, "recording not found: expected a directory made by `timesteer import`")
    seen: dict[Path, str] = {}
    for entry in entries:
        key = Path(entry.path).resolve()
        if key in seen:
            raise InputError(entry.path, f"named twice (also as {seen[key]}); give each recording once and use a "
                                         f"weight to repeat it")
        seen[key] = entry.path
    return entries


def check_fit(a: Recording, b: Recording) -> None:
    """Recordings trained or evaluated together must look alike to a model: one line naming both."""
    ga, gb = a.manifest.frame, b.manifest.frame
    if (ga.height, ga.width, ga.channels) != (gb.height, gb.width, gb.channels):
        raise InputError(b.path, f"frames are {gb.height}x{gb.width}x{gb.channels} but {a.path} has "
                                 f"{ga.height}x{ga.width}x{ga.channels}; import both at the same --size")
    if (ga.crop_top, ga.crop_bottom, ga.source_height, ga.source_width) != (
            gb.crop_top, gb.crop_bottom, gb.source_height, gb.source_width):
        raise InputError(b.path, f"frames were cut from {gb.source_width}x{gb.source_height} with --crop "
                                 f"{gb.crop_top},{gb.crop_bottom} but {a.path}'s from {ga.source_width}x"
                                 f"{ga.source_height} with --crop {ga.crop_top},{ga.crop_bottom}; import both the "
                                 f"same way")
    sa, sb = a.manifest.steering, b.manifest.steering
    if sa.unit != sb.unit or (sa.to_rad is not None and sb.to_rad is not None and abs(sa.to_rad - sb.to_rad) > 1e-9):
        raise InputError(b.path, f"steering is in {sb.unit!r} (x{sb.to_rad} = rad) but {a.path}'s in {sa.unit!r} "
                                 f"(x{sa.to_rad} = rad)")


class FrameBank:
    """Frames of several recordings as one array-like: bank index i is frame i - offsets[r] of array r.

    Supports what training and prediction need: `bank[idx]` for an integer array of any shape, `len`,
    `shape` and `dtype`. Each recording stays memory-mapped; only the frames asked for are read.
    """

    def __init__(self, arrays: list[np.ndarray]) -> None:
        if not arrays:
            raise ValueError("a FrameBank needs at least one array")
        self.arrays = arrays
        self.offsets = np.cumsum([0, *[len(a) for a in arrays]])
        self.shape = (int(self.offsets[-1]), *arrays[0].shape[1:])
        self.dtype = arrays[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        if len(self.arrays) == 1:
            return self.arrays[0][index]
        if np.ndim(index) == 0 and not isinstance(index, slice):
            r = int(np.searchsorted(self.offsets, int(index), side="right") - 1)
            return self.arrays[r][int(index) - self.offsets[r]]
        if isinstance(index, slice):
            index = np.arange(*index.indices(len(self)))
        idx = np.asarray(index)
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        out = np.empty(idx.shape + self.shape[1:], dtype=self.dtype)
        for r in np.unique(which):
            mask = which == r
            out[mask] = self.arrays[int(r)][idx[mask] - self.offsets[r]]
        return out
