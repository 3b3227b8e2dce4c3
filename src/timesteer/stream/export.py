"""`timesteer export RUN --onnx PATH`: one step of the model as ONNX, state in and state out.

Inputs:  `frame` uint8 (H, W, 3), one preprocessed camera frame (crop and resize as described in the
         metadata), then `state_0`, `state_1`, ... float32, which start as zeros for a new drive.
Outputs: `steering` float32 (1,) in the recording's unit, then `next_state_0`, ... to feed back.
Normalisation is inside the graph. The metadata (`timesteer.*` keys) says how to make a frame, the
steering unit, and the state shapes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from timesteer import __version__
from timesteer.errors import TimesteerError
from timesteer.models import SteeringModel
from timesteer.stream.steerer import Preprocessing
from timesteer.train.run import Which, load_run


class OneStep(nn.Module):
    """frame (H, W, 3) uint8 + state tensors -> (steering (1,), *next state)."""

    def __init__(self, model: SteeringModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        x = frame.permute(2, 0, 1).unsqueeze(0).unsqueeze(0)  # (1, 1, C, H, W)
        steering, new = self.model(x, tuple(state))
        return (steering.reshape(1), *new)


@dataclass
class ExportConfig:
    run: str
    onnx: str
    checkpoint: Which = "best"
    opset: int = 17


def export_onnx(cfg: ExportConfig) -> Path:
    run = load_run(cfg.run, cfg.checkpoint, "cpu")
    model = run.model.float().eval()
    # Plain (contiguous) weights: channels-last storage is a CPU speed trick the exporter need not see.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous()
    c, h, w = model.in_shape
    state = model.initial_state(1, "cpu")
    frame = torch.zeros(h, w, c, dtype=torch.uint8)
    names_in = ["frame", *[f"state_{i}" for i in range(len(state))]]
    names_out = ["steering", *[f"next_state_{i}" for i in range(len(state))]]
    path = Path(cfg.onnx)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's business
        torch.onnx.export(OneStep(model), (frame, *state), str(path), input_names=names_in, output_names=names_out,
                          opset_version=cfg.opset, dynamo=False)
    proto = onnx.load(str(path))
    meta = metadata(run.info, model, [tuple(s.shape) for s in state])
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def metadata(info: dict[str, Any], model: SteeringModel, state_shapes: list[tuple[int, ...]]) -> dict[str, str]:
    pre = Preprocessing.from_run_info(info)
    steer = info["data"]["steering"]
    return {
        "timesteer.version": __version__,
        "timesteer.model": model.name,
        "timesteer.model_config": json.dumps(model.config),
        "timesteer.preprocessing": pre.describe() + "; then feed the (H, W, 3) uint8 frame as `frame`; "
                                   "normalisation is inside the graph",
        "timesteer.frame_shape": json.dumps([pre.height, pre.width, 3]),
        "timesteer.source_frame": json.dumps({"height": pre.source_height, "width": pre.source_width,
                                              "crop_top": pre.crop_top, "crop_bottom": pre.crop_bottom}),
        "timesteer.steering_unit": steer["unit"],
        "timesteer.steering_to_rad": json.dumps(steer.get("to_rad")),
        "timesteer.state": json.dumps({"shapes": [list(s) for s in state_shapes],
                                       "initial": "zeros (a new drive)",
                                       "feedback": "feed next_state_i back as state_i for the next frame"}),
    }


def read_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise TimesteerError(f"{path}: ONNX file not found")
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}
