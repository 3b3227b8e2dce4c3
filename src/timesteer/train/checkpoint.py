"""Self-describing checkpoints, written atomically and loaded without unpickling arbitrary objects.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts saved with `torch.save`
and read back with `torch.load(weights_only=True)`, which refuses anything else. It holds the model's
name, config and weights (normalisation included, as buffers), the optimizer and scheduler state,
the epoch, the training config and the data split: enough to rebuild the model alone, or to resume.
"""

from __future__ import annotations

import os
import pickle
import uuid
import zipfile
from pathlib import Path
from typing import Any

import torch

from timesteer import __version__
from timesteer.errors import TimesteerError
from timesteer.models import SteeringModel, create_model

FORMAT = "timesteer.checkpoint"
FORMAT_VERSION = 1


def model_payload(model: SteeringModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "config": model.config,
        "in_shape": list(model.in_shape),
        "outputs": list(model.outputs),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "timesteer_version": __version__, **payload}
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(full, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TimesteerError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TimesteerError(f"{path}: not a readable timesteer checkpoint ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TimesteerError(f"{path}: not a timesteer checkpoint")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise TimesteerError(f"{path}: checkpoint format {payload['format_version']} is newer than this timesteer")
    return payload


def model_from_payload(payload: dict[str, Any], where: str | Path = "checkpoint") -> SteeringModel:
    """Rebuild the model from the checkpoint alone: registry name + config + weights."""
    spec = payload.get("model")
    if not isinstance(spec, dict):
        raise TimesteerError(f"{where}: holds no model")
    model = create_model(spec["name"], in_shape=spec["in_shape"], outputs=spec["outputs"], **spec["config"])
    try:
        model.load_state_dict(spec["state_dict"], strict=True)
    except RuntimeError as exc:
        raise TimesteerError(f"{where}: weights do not fit model {spec['name']} ({str(exc).splitlines()[0]})") from None
    return model
