"""`timesteer export RUN --onnx PATH`: one step of the model as ONNX, state in and state out.

Inputs:  `frame` uint8 (H, W, 3), one preprocessed camera frame (crop and resize as described in the
         metadata), then `state_0`, `state_1`, ... float32, which start as zeros for a new drive.
Outputs: `steering` float32 (1,) in the recording's unit, then `next_state_0`, ... to feed back.
Normalisation is inside the graph. The metadata (`timesteer.*` keys) says how to make a frame, the
steering unit, and the state shapes.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import onnx
import torch
from torch import Tensor, nn

from timesteer import __version__
from timesteer.config import Range, validate
from timesteer.errors import TimesteerError
from timesteer.files import write_bytes, writing
from timesteer.models import SteeringModel
from timesteer.stream.backends import OneStep
from timesteer.stream.preprocessing import Preprocessing
from timesteer.train.run import RunInfo, Which, load_run

# The TorchScript exporter's range; below 13 some of the models' operators have no ONNX form.
MIN_OPSET, MAX_OPSET = 13, 20


@dataclass
class ExportConfig:
    run: str
    onnx: str
    checkpoint: Which = "best"
    opset: Annotated[int, Range(MIN_OPSET, MAX_OPSET)] = 17
    int8: bool = False  # int8 convolutions (ONNX Runtime static quantisation), checked against the float step
    calibrate: str | None = None  # recording whose frames calibrate int8; default: the run's first recording
    # The car's latency: a model with lead heads exports the one nearest it (train/lead_heads.py).
    latency_ms: Annotated[float, Range(0, 10_000)] = 0.0

    def __post_init__(self) -> None:
        validate(self)


def export_onnx(cfg: ExportConfig) -> Path:
    """Write the ONNX file through a temporary file that must load in ONNX Runtime and give the same
    steering as PyTorch before it replaces `cfg.onnx`: a failed export leaves any earlier file intact."""
    path = Path(cfg.onnx)
    if path.is_dir():
        raise TimesteerError(f"{path}: is a directory; expected a file path for --onnx")
    run = load_run(cfg.run, cfg.checkpoint, "cpu")
    run.steer_for_latency(cfg.latency_ms / 1000.0)
    with writing(path, "ONNX file"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = export_bytes(run.model, run.info, cfg.opset)
        except ExportError as exc:
            raise TimesteerError(f"{path}: {exc}; nothing was written") from None
        if cfg.int8:
            try:
                data = int8_bytes(data, run.model, run.info, cfg.calibrate)
            except TimesteerError as exc:
                raise TimesteerError(f"{path}: {exc}") from None
        write_bytes(path, data)
    return path


class ExportError(Exception):
    pass


def int8_bytes(data: bytes, model: SteeringModel, info: RunInfo, calibrate: str | None = None) -> bytes:
    """The exported step with int8 convolutions, calibrated on real frames (the run's own recording unless
    `calibrate` names another with the same frames), refused when it steers unlike the float step."""
    from timesteer.data import Recording
    from timesteer.stream.quantize import frame_chunks, quantize_step

    source = calibrate or (info.data.recordings[0].path if info.data.recordings else None)
    if source is None:
        raise TimesteerError("int8 needs frames to calibrate on: pass a recording (--calibrate REC)")
    try:
        rec = Recording.open(source)
    except TimesteerError as exc:
        hint = "" if calibrate else " (the run's training recording, for int8 calibration; pass --calibrate REC)"
        raise TimesteerError(f"{exc}{hint}") from None
    c, h, w = model.in_shape
    found = rec.frames.shape[1:]
    if tuple(found) != (h, w, c):
        raise TimesteerError(f"{rec.path}: int8 calibration needs frames of {h}x{w}x{c} like the model's; this "
                             f"recording has {'x'.join(map(str, found))}")
    calibration, check = frame_chunks(rec, chunks=8)
    target_std = float(info.normalization.get("target_std", [1.0])[0])
    return quantize_step(data, calibration, check, target_std)[0]


def export_bytes(model: SteeringModel, info: RunInfo, opset: int = 17) -> bytes:
    """One streaming step of `model` as a checked ONNX model in memory (metadata included)."""
    model = model.float().eval()
    # Plain (contiguous) weights: channels-last storage is a CPU speed trick the exporter need not see.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous()
    c, h, w = model.in_shape
    state = model.initial_state(1, "cpu")
    frame = torch.zeros(h, w, c, dtype=torch.uint8)
    names_in = ["frame", *[f"state_{i}" for i in range(len(state))]]
    names_out = ["steering", *[f"next_state_{i}" for i in range(len(state))]]
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's business
            torch.onnx.export(OneStep(model, keep_frame=True).eval(), (frame, *state), buffer,
                              input_names=names_in, output_names=names_out, opset_version=opset, dynamo=False)
        proto = onnx.load_from_string(buffer.getvalue())
        meta = metadata(info, model, [tuple(s.shape) for s in state])
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        data = proto.SerializeToString()
        _check_runs(data, model, frame, state)
    except (RuntimeError, ValueError, onnx.checker.ValidationError, torch.onnx.errors.OnnxExporterError,
            ort_errors()) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"could not export {model.name} at opset {opset} ({first})") from None
    finally:
        if model.target_mean.device.type == "cpu":
            model.channels_last()  # as it was, for the caller's PyTorch use
    return data


def ort_errors() -> type[Exception]:
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail

    return Fail


def _check_runs(data: bytes, model: SteeringModel, frame: Tensor, state: tuple[Tensor, ...]) -> None:
    """The exported step must load in ONNX Runtime and steer like PyTorch on a test frame."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    test = torch.randint(0, 256, frame.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    feed = {"frame": test.numpy(), **{f"state_{i}": s.numpy() for i, s in enumerate(state)}}
    declared = {i.name for i in session.get_inputs()}  # `mean` looks at no frame: the exporter drops that input
    got = session.run(["steering"], {k: v for k, v in feed.items() if k in declared})[0]
    model.eval()  # the exporter restores the wrapper's mode afterwards, which may switch dropout back on
    with torch.no_grad():
        want = OneStep(model).eval()(test, *state)[0].numpy()
    if not np.allclose(got, want, rtol=1e-3, atol=1e-4):
        raise ValueError(f"ONNX Runtime gives {got.ravel()[0]:.6f} where PyTorch gives {want.ravel()[0]:.6f}")


def metadata(info: RunInfo, model: SteeringModel, state_shapes: list[tuple[int, ...]]) -> dict[str, str]:
    pre = Preprocessing.from_run_info(info)
    steer = info.data.steering
    meta = {
        "timesteer.version": __version__,
        "timesteer.model": model.name,
        "timesteer.model_config": json.dumps(model.config),
        "timesteer.preprocessing": pre.describe() + "; then feed the (H, W, 3) uint8 frame as `frame`; "
                                   "normalisation is inside the graph",
        "timesteer.frame_shape": json.dumps([pre.height, pre.width, 3]),
        "timesteer.source_frame": json.dumps({"height": pre.source_height, "width": pre.source_width,
                                              "crop_top": pre.crop_top, "crop_bottom": pre.crop_bottom}),
        "timesteer.steering_unit": steer.unit,
        "timesteer.steering_to_rad": json.dumps(steer.to_rad),
        "timesteer.fps": json.dumps(info.data.fps),
        # The latency the `steering` output was learned for (train/lead_heads.py); null: a run from before it.
        "timesteer.steer_lead_s": json.dumps(info.data.steer_leads_s[model.steer_column]
                                             if info.data.steer_leads_s else None),
        "timesteer.state": json.dumps({"shapes": [list(s) for s in state_shapes],
                                       "initial": "zeros (a new drive)" + (
                                           "; the distance input: timesteer.distance_ref"
                                           if model.distance_input else ""),
                                       # which state input holds the distance (before the command's, if any)
                                       "distance_input": (len(state_shapes) - 1 - int(model.command_input)
                                                          if model.distance_input else None),
                                       "feedback": "feed next_state_i back as state_i for the next frame"}),
        # A model that takes its own command keeps the last one issued in its last state input (1, 1), in
        # the steering unit: overwrite it when something else steered (a takeover).
        "timesteer.own_command": json.dumps(bool(model.command_input)),
    }
    if model.distance_input:
        # A model built with `motion_per_distance` keeps the distance travelled per frame (speed unit x
        # seconds) in the state input before the command's (or the last): start it at the training's
        # median, and write speed x the time since the last frame into it before each frame.
        meta["timesteer.distance_ref"] = json.dumps(float(model.distance_ref))
        # `motion_per_second`: the "distance" is the seconds since the last frame (a speed of 1).
        meta["timesteer.distance_per"] = "second" if model.distance_per_second else "distance"
    return meta


def read_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise TimesteerError(f"{path}: ONNX file not found")
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}
