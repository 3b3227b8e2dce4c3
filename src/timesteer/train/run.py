"""A training run, loaded back: its run.json (typed and checked) and its model from a checkpoint.

A run directory is self-contained and may be moved or copied: nothing in it refers to where it was
made; the recordings it was trained on are named by absolute path and identified by their creation
time and frame count, so a recording that moved is still recognised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from timesteer.config import from_dict
from timesteer.data import Recording
from timesteer.data.manifest import FrameGeometry
from timesteer.errors import ConfigError, TimesteerError
from timesteer.models import SteeringModel
from timesteer.train.checkpoint import load_checkpoint, model_from_payload
from timesteer.train.distributed import pick_device
from timesteer.train.lead_heads import column_for_latency

Which = Literal["best", "last"]
RUN_FILE = "run.json"


@dataclass
class RecordingRef:
    path: str
    created_at: str
    frames: int
    train_spans: list[tuple[int, int]] = field(default_factory=list)
    val_spans: list[tuple[int, int]] = field(default_factory=list)
    weight: float = 1.0
    fingerprint: str = ""  # Recording.fingerprint() when trained (runs before it have none)

    def matches(self, rec: Recording) -> bool:
        """The same recording: the same path, or (moved) the same creation time and frame count."""
        if Path(self.path).resolve() == rec.path.resolve():
            return True
        return bool(self.created_at) and (self.created_at, self.frames) == (rec.manifest.created_at,
                                                                            rec.manifest.frames)


@dataclass
class SteeringInfo:
    unit: str
    to_rad: float | None = None


@dataclass
class RunData:
    recordings: list[RecordingRef]
    fps: float
    steering: SteeringInfo
    frame: FrameGeometry  # the frames the model was trained on, and how they were made from the camera's
    camera: str
    cameras_used: int = 1
    side_offset: float = 0.0
    outputs: list[str] = field(default_factory=lambda: ["steering"])
    # The lead (s) each steering column stands for (train/lead_heads.py); empty: one column, lead 0.
    steer_leads_s: list[float] = field(default_factory=list)
    train_frames: int = 0
    val_frames: int = 0

    def recording_for(self, rec: Recording) -> RecordingRef | None:
        return next((r for r in self.recordings if r.matches(rec)), None)


@dataclass
class RunInfo:
    """run.json: what was trained, on what, how far it got."""

    timesteer_version: str
    config: dict[str, Any]
    model: dict[str, Any]
    data: RunData
    schedule: dict[str, Any] = field(default_factory=dict)
    normalization: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    epochs_done: int = 0
    best_epoch: int = -1
    best_val_rmse: float | None = None
    last: dict[str, Any] | None = None
    init: str | None = None  # the run whose weights this one started from


def read_run_info(path: str | Path) -> RunInfo:
    """A run directory's run.json, checked; one clear error when it is missing, unreadable or malformed."""
    info_path = Path(path) / RUN_FILE
    if not info_path.is_file():
        raise TimesteerError(f"{path}: not a training run (no {RUN_FILE}); expected a directory made by "
                             f"`timesteer train`")
    try:
        raw = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TimesteerError(f"{info_path}: could not read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise TimesteerError(f"{info_path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        return from_dict(RunInfo, raw, where="run")
    except ConfigError as exc:
        raise TimesteerError(f"{info_path}: not a timesteer run description ({exc})") from None


@dataclass
class LoadedRun:
    path: Path
    info: RunInfo
    model: SteeringModel
    checkpoint: Path
    epoch: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def data(self) -> RunData:
        return self.info.data

    @property
    def steering_unit(self) -> str:
        return self.data.steering.unit

    def steer_for_latency(self, latency_s: float) -> float:
        """Steer with the output learned for a car whose commands act `latency_s` after the picture (the
        nearest lead head; train/lead_heads.py); the lead it stands for."""
        leads = self.info.data.steer_leads_s
        self.model.steer_column = column_for_latency(leads, latency_s)
        return leads[self.model.steer_column] if leads else 0.0

    def val_spans_for(self, rec: Recording) -> list[tuple[int, int]] | None:
        """The validation spans recorded at training time, if `rec` is one of the run's recordings."""
        ref = self.data.recording_for(rec)
        return None if ref is None else [tuple(s) for s in ref.val_spans]


def load_run(path: str | Path, which: Which = "best", device: str = "cpu") -> LoadedRun:
    path = Path(path)
    info = read_run_info(path)
    ckpt = path / f"{which}.pt"
    payload = load_checkpoint(ckpt)
    model = model_from_payload(payload, ckpt)
    model.to(pick_device(device)).eval()
    if model.target_mean.device.type == "cpu":
        model.channels_last()
    return LoadedRun(path=path, info=info, model=model, checkpoint=ckpt, epoch=int(payload.get("epoch", -1)))
