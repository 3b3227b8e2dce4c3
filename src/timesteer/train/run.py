"""A finished (or running) training run, loaded back: its model from a checkpoint and its run.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.models import SteeringModel
from timesteer.train.checkpoint import load_checkpoint, model_from_payload
from timesteer.train.distributed import pick_device

Which = Literal["best", "last"]
RUN_FILE = "run.json"


def read_run_info(path: str | Path) -> dict[str, Any]:
    """A run directory's run.json, or one clear error when there is none or it is not JSON."""
    info_path = Path(path) / RUN_FILE
    if not info_path.is_file():
        raise TimesteerError(f"{path}: not a training run (no {RUN_FILE}); expected a directory made by "
                             f"`timesteer train`")
    try:
        return json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise TimesteerError(f"{info_path}: not valid JSON ({exc.msg})") from None


@dataclass
class LoadedRun:
    path: Path
    info: dict[str, Any]
    model: SteeringModel
    checkpoint: Path
    epoch: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def data(self) -> dict[str, Any]:
        return self.info["data"]

    @property
    def steering_unit(self) -> str:
        return self.data["steering"]["unit"]

    def val_spans_for(self, rec: Recording) -> list[tuple[int, int]] | None:
        """The validation spans recorded at training time, if `rec` is the recording they index."""
        if _same_recording(rec, self.data.get("val_path") or self.data["path"], self.data.get("val_identity")):
            return [tuple(s) for s in self.data["val_spans"]]
        return None


def _same_recording(rec: Recording, path: str, identity: dict[str, Any] | None) -> bool:
    if Path(path).resolve() == rec.path.resolve():
        return True
    return bool(identity) and identity == recording_identity(rec)


def recording_identity(rec: Recording) -> dict[str, Any]:
    """What identifies a recording if it moves: when it was made, and how many frames it holds."""
    return {"created_at": rec.manifest.created_at, "frames": rec.manifest.frames}


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
