"""Importers: real driving recordings in, timesteer recordings out.

    from timesteer.data import ImportConfig, import_recording
    import_recording(ImportConfig(format="udacity-sim", src="track1", dest="rec", size=(66, 200)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from timesteer.data.importers import deeptesla, donkey, sully, udacity, udacity_sim, video
from timesteer.data.importers.source import ParsedSource
from timesteer.data.importers.write import WriteOptions, write_recording
from timesteer.data.manifest import SteeringUnit
from timesteer.data.writer import check_destination
from timesteer.errors import InputError

PARSERS: dict[str, Callable[..., ParsedSource]] = {
    "udacity-sim": udacity_sim.parse,
    "udacity": udacity.parse,
    "deeptesla": deeptesla.parse,
    "video": video.parse,
    "donkey": donkey.parse,
    "sully": sully.parse,
}


@dataclass
class ImportConfig:
    format: str
    src: str
    dest: str
    size: tuple[int, int] | None = None  # (height, width) of stored frames; None keeps the source size
    crop: tuple[int, int] = (0, 0)  # rows cut from the top and bottom, in source pixels, before resizing
    camera: str | None = None  # udacity-sim: center|left|right|all; udacity: a frame_id
    overwrite: bool = False
    gap_threshold_s: float | None = None  # split segments at gaps above this; default 5 frame periods, >= 0.5 s
    workers: int = 0  # image decoding threads; 0 = one per CPU (up to 8)
    csv: str | None = None  # video: the CSV, when not SRC with .csv
    fps: float | None = None  # sully: frame rate when data.txt has no timestamps
    steering_unit: SteeringUnit | None = None  # video: unit of the CSV's steering column
    steering_to_rad: float | None = None  # video: factor from that unit to radians, when known
    progress: bool = True


def import_recording(config: ImportConfig) -> Path:
    """Import `config.src` in `config.format` into a new recording at `config.dest`; returns its path."""
    if config.format not in PARSERS:
        raise InputError(None, f"unknown format {config.format!r}; expected one of {', '.join(PARSERS)}")
    src = Path(config.src)
    if not src.exists():
        raise InputError(src, "source not found")
    dest = Path(config.dest)
    check_destination(dest.absolute(), config.overwrite)  # fail before reading anything
    parsed = PARSERS[config.format](src, camera=config.camera, csv=config.csv, fps=config.fps,
                                    steering_unit=config.steering_unit, steering_to_rad=config.steering_to_rad)
    options = WriteOptions(dest=dest, size=config.size, crop=config.crop, overwrite=config.overwrite,
                           gap_threshold_s=config.gap_threshold_s, workers=config.workers,
                           progress=config.progress)
    return write_recording(parsed, options)


__all__ = ["PARSERS", "ImportConfig", "import_recording"]
