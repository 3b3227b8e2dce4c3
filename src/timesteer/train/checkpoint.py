"""Self-describing checkpoints, written atomically and loaded without unpickling arbitrary objects.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts saved with `torch.save`
and read back with `torch.load(weights_only=True)`, which refuses anything else. It holds the model's
name, config and weights (normalisation included, as buffers), the optimizer and scheduler state,
the epoch, the training config and the data split: enough to rebuild the model alone, or to resume.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from timesteer import __version__
from timesteer.errors import ConfigError, ModelFailed, TimesteerError
from timesteer.files import atomic_write
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
    """Written through `atomic_write`: a kill or a full disk never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "timesteer_version": __version__, **payload}
    buffer = io.BytesIO()  # serialised first: a write error then surfaces as the OSError it is
    torch.save(full, buffer)
    with atomic_write(path, "wb") as fh:
        fh.write(buffer.getbuffer())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TimesteerError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # garbage, not objects refused by the weights-only loader
            raise TimesteerError(f"{path}: not a readable timesteer checkpoint (its bytes are not a saved PyTorch "
                                 f"object: damaged, or another kind of file)") from None
        # torch's own message suggests weights_only=False; timesteer never unpickles arbitrary objects.
        raise TimesteerError(f"{path}: holds objects other than tensors and plain values, which timesteer refuses "
                             f"to unpickle (they could run code); it was not written by timesteer, or was altered") \
            from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError,
            AttributeError, IndexError) as exc:
        raise TimesteerError(f"{path}: not a readable timesteer checkpoint ({_first(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TimesteerError(f"{path}: not a timesteer checkpoint")
    version = payload.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TimesteerError(f"{path}: checkpoint format {version!r} is newer than this timesteer understands")
    return payload


def checkpoint_field(payload: dict[str, Any], key: str, kind: type, where: str | Path) -> Any:
    """payload[key], checked to be a `kind` (an int is a float too), or one clear error."""
    value = payload.get(key)
    ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
    if not ok or (isinstance(value, bool) and kind is not bool):
        raise TimesteerError(f"{where}: not a complete timesteer checkpoint ({key!r} missing or not a "
                             f"{kind.__name__})")
    return value


def model_from_payload(payload: dict[str, Any], where: str | Path = "checkpoint") -> SteeringModel:
    """Rebuild the model from the checkpoint alone: registry name + config + weights."""
    spec = payload.get("model")
    if not isinstance(spec, dict):
        raise TimesteerError(f"{where}: holds no model")
    name = checkpoint_field(spec, "name", str, where)
    in_shape = checkpoint_field(spec, "in_shape", list, where)
    outputs = checkpoint_field(spec, "outputs", list, where)
    config = checkpoint_field(spec, "config", dict, where)
    weights = checkpoint_field(spec, "state_dict", dict, where)
    try:
        model = create_model(name, in_shape=in_shape, outputs=outputs, **config)
    except (ConfigError, TypeError, ValueError, RuntimeError) as exc:
        raise TimesteerError(f"{where}: cannot rebuild model {name!r} ({exc})") from None
    try:
        model.load_state_dict(weights, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise TimesteerError(f"{where}: weights do not fit model {name} ({str(exc).splitlines()[0]})") from None
    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFailed(f"{where}: the weights of {name} hold NaN or infinity ({key}); the training "
                              f"diverged or the file was edited, so there is no model to run")
    return model


def _first(exc: BaseException) -> str:
    """The reason in torch's message, without its advice: the first sentence only (torch goes on to suggest
    loading with `weights_only=False`, which would run whatever code the file holds: never say that)."""
    text = str(exc).strip()
    if not text:
        return "empty, or cut short" if isinstance(exc, EOFError) else type(exc).__name__
    first = text.splitlines()[0].split(". ")[0].rstrip(".")
    if "weights_only" in first or "zip archive" in first:
        return "truncated, or not a file torch.save wrote" if "zip" in first else "not a plain checkpoint"
    return first[:200]
