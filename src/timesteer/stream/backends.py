"""What runs one streaming step: PyTorch (the trained model itself) or ONNX Runtime (its exported step,
in float or with int8 convolutions).

Both take a working frame (H, W, 3) uint8 and the carried state, and give the steering in the
recording's unit and the new state. The state starts as None (a new drive): PyTorch makes zeros of the
right shapes, ONNX Runtime reads them from the exported model's inputs. The Steerer does the rest
(preprocessing, the clock), the same for both.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from timesteer.errors import TimesteerError
from timesteer.models import SteeringModel

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8"]


class Step(Protocol):
    name: str
    takes_command: bool  # the model was built with `own_command`: its state ends with the last command issued
    takes_distance: bool  # built with `motion_per_distance`: its state holds the distance per frame
    distance_per_second: bool  # built with `motion_per_second`: that "distance" is the time since the last frame

    def __call__(self, frame: np.ndarray, state: Any) -> tuple[float, Any]: ...

    def with_command(self, state: Any, command: float) -> Any: ...

    def with_distance(self, state: Any, distance: float) -> Any: ...


class OneStep(nn.Module):
    """frame (H, W, 3) uint8 + state tensors -> (steering (1,), *next state)."""

    def __init__(self, model: SteeringModel, keep_frame: bool = False) -> None:
        super().__init__()
        self.model = model
        # For ONNX: a model that ignores its frame (`mean`) would lose the `frame` input, which every
        # exported step promises; a term of 0 x one pixel (uint8, never NaN) keeps it, exactly.
        self.keep_frame = keep_frame

    def forward(self, frame: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        x = frame.permute(2, 0, 1).unsqueeze(0).unsqueeze(0)  # (1, 1, C, H, W)
        steering, new = self.model(x, tuple(state))
        steering = steering.reshape(1)
        if self.keep_frame:
            steering = steering + frame.reshape(-1)[:1].to(steering.dtype) * 0
        return (steering, *new)


class TorchStep:
    """The model itself, one frame at a time. The step (`OneStep`: frame and state in, steering and state
    out) is traced with TorchScript when the TorchStep is made (not on the first live frame, which would
    then be late), and the trace runs from then on: the same operations without Python's module calls in
    between, a sixth to a fifth of a live step's time (`cnn_gru` at 66x200, 2 threads: 1.22-1.28 ms p50
    against 1.48-1.71 untraced, BENCHMARKS.md). The trace shares the model's parameters (it is not
    frozen), so a model trained further in place steers with its new weights. Where tracing fails, the
    step runs eagerly and says so."""

    name = "torch"

    def __init__(self, model: SteeringModel, trace: bool = True) -> None:
        self.model = model.eval()
        self.device = model.target_mean.device
        self.takes_command = model.command_input
        self.takes_distance = model.distance_input
        self.distance_per_second = model.distance_per_second
        self.step: Any = OneStep(self.model)
        if trace:
            self.step = self._traced(self.step)
            if self.device.type == "cuda":
                self.step = self._graphed(self.step)

    def _traced(self, step: OneStep) -> Any:
        c, h, w = self.model.in_shape
        frame = torch.zeros(h, w, c, dtype=torch.uint8, device=self.device)
        state = self.model.initial_state(1, self.device)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # TorchScript is deprecated in favour of torch.compile / torch.export; both are slower to
                # start and, measured here, slower per step (BENCHMARKS.md, "Live steering"). Its tracer
                # warns where Python reads a tensor: here only shapes (nn.GRU's checks, the history length,
                # the slides' size), fixed for a live step of one frame; tests hold the trace to the model.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                return torch.jit.trace(step, (frame, *state), check_trace=False)
        except Exception as exc:  # any failure to trace leaves the model steering eagerly
            log.warning("the PyTorch step runs without TorchScript (%s: %s)", type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "")
            return step

    def _graphed(self, step: Any) -> Any:
        try:
            return CudaGraphStep(step, self.model, self.device)
        except Exception as exc:  # a step that cannot be captured still runs, launch by launch
            log.warning("the PyTorch step runs without a CUDA graph (%s: %s)", type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "")
            return step

    def with_command(self, state: Any, command: float) -> Any:
        state = self.model.initial_state(1, self.device) if state is None else state
        return SteeringModel.with_command(state, torch.tensor([command], device=self.device))

    def with_distance(self, state: Any, distance: float) -> Any:
        state = self.model.initial_state(1, self.device) if state is None else state
        return self.model.with_distance(state, torch.tensor([distance], device=self.device))

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray, state: Any) -> tuple[float, Any]:
        x = torch.from_numpy(np.require(frame, requirements=["C", "W"])).to(self.device)  # (H, W, C)
        state = self.model.initial_state(1, self.device) if state is None else state
        out = self.step(x, *state)
        return float(out[0][0]), out[1:]  # a tuple, traced or not


class CudaGraphStep:
    """A step replayed as one CUDA graph. One frame through a small CNN is dozens of kernels of a few
    microseconds each: on a GPU the step is bound by launching them (`cnn_gru` on an H200: about 1 ms
    traced, most of it launches), and a graph launches them all at once. The frame and state are copied
    into the graph's own input tensors, the outputs copied out (the caller may keep a state while
    another drive replays the graph). The graph reads the model's parameters where they lie, so weights
    changed in place are used, as with the trace."""

    def __init__(self, step: Any, model: SteeringModel, device: torch.device, warmup: int = 3) -> None:
        c, h, w = model.in_shape
        with torch.inference_mode():
            self.inputs = [torch.zeros(h, w, c, dtype=torch.uint8, device=device),
                           *(s.clone() for s in model.initial_state(1, device))]
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
                for _ in range(warmup):
                    step(*self.inputs)
            torch.cuda.current_stream(device).wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = step(*self.inputs)

    def __call__(self, frame: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        for dst, src in zip(self.inputs, (frame, *state), strict=True):
            dst.copy_(src)
        self.graph.replay()
        return tuple(o.clone() for o in self.outputs)


class OnnxStep:
    """An exported step (`timesteer export`) in ONNX Runtime, with its state carried by hand."""

    name = "onnx"

    def __init__(self, model: bytes | str | Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph types
            where = "" if isinstance(model, bytes) else f"{model}: "
            raise TimesteerError(f"{where}ONNX Runtime cannot load it ({str(exc).splitlines()[0][:200]})") from None
        inputs = self.session.get_inputs()
        # A model that steers without looking (`mean`) has its unused frame input dropped by the exporter.
        self.takes_frame = any(i.name == "frame" for i in inputs)
        self.state_names = [i.name for i in inputs if i.name != "frame"]
        self.state_shapes = [tuple(i.shape) for i in inputs if i.name != "frame"]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if "timesteer.int8" in self.metadata:  # written by `export --int8` (stream/quantize.py)
            self.name = "onnx-int8"
        self.takes_command = self.metadata.get("timesteer.own_command") == "true"
        # The training's distance per frame, which a model built with `motion_per_distance` starts from.
        self.distance_ref = json.loads(self.metadata.get("timesteer.distance_ref", "null"))
        self.takes_distance = self.distance_ref is not None
        self.distance_per_second = self.metadata.get("timesteer.distance_per") == "second"

    def with_command(self, state: Any, command: float) -> Any:
        state = list(self.initial_state() if state is None else state)
        state[-1] = np.full_like(state[-1], command)
        return state

    def with_distance(self, state: Any, distance: float) -> Any:
        state = list(self.initial_state() if state is None else state)
        i = len(state) - 1 - int(self.takes_command)  # the distance comes before the command
        state[i] = np.full_like(state[i], distance)
        return state

    def initial_state(self) -> list[np.ndarray]:
        state = [np.zeros(s, dtype=np.float32) for s in self.state_shapes]
        return self.with_distance(state, self.distance_ref) if self.takes_distance else state

    def __call__(self, frame: np.ndarray, state: Any) -> tuple[float, Any]:
        state = self.initial_state() if state is None else state
        feed = dict(zip(self.state_names, state, strict=True))
        if self.takes_frame:
            feed["frame"] = np.ascontiguousarray(frame, dtype=np.uint8)
        out = self.session.run(self.outputs, feed)
        return float(out[0][0]), out[1:]


def onnx_metadata(meta: dict[str, str], where: str) -> dict[str, Any]:
    """What a Steerer needs from an exported model's metadata, checked."""
    try:
        frame = json.loads(meta["timesteer.source_frame"])
        height, width, _ = json.loads(meta["timesteer.frame_shape"])
        fps = json.loads(meta.get("timesteer.fps", "null"))
        return {"source_height": int(frame["height"]), "source_width": int(frame["width"]),
                "crop_top": int(frame["crop_top"]), "crop_bottom": int(frame["crop_bottom"]), "height": int(height),
                "width": int(width), "unit": meta["timesteer.steering_unit"],
                "to_rad": json.loads(meta.get("timesteer.steering_to_rad", "null")), "fps": fps,
                "lead_s": json.loads(meta.get("timesteer.steer_lead_s", "null"))}
    except (KeyError, ValueError, TypeError) as exc:
        raise TimesteerError(f"{where}: not an ONNX model exported by `timesteer export` (metadata: {exc})") from None
