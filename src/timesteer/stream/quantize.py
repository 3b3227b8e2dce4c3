"""Int8 convolutions for an exported step: ONNX Runtime static quantisation (QDQ, per channel).

    data8, check = quantize_step(data, calibration=[chunk, ...], check=[chunk, ...], target_std=0.15)

Only the convolutions are quantised. They are most of a step's time (the `cnn_gru` step at 66x200 in
ONNX Runtime: convolutions about 0.9 ms of 1.9), and the CPUs this targets have int8 dot products
(AVX-512 VNNI here, NEON on a Raspberry Pi). Quantising the recurrent matrices as well was tried and
rejected: the rounding error builds up in the carried state (a trained `cnn_gru`'s steering off by up
to 0.39 of the simulator's full lock, about 10 degrees, within 600 frames, against 0.003 with the
convolutions alone).

Calibration runs the float step over real frames in order, its state carried from frame to frame, so
the activation ranges it sees are those of a drive, not of single frames. Then both steps drive other
chunks of frames from a fresh state and the int8 step must stay close to the float one: its RMSE from
the float steering at most `MAX_RMSE_FRACTION` of the training steering's spread, or the export fails.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.stream.backends import OnnxStep

# The int8 step may differ from the float step by this fraction of the training steering's standard
# deviation (RMSE over the check frames). Measured: 0.6% for a trained `cnn_gru`; 10% would be a model
# whose quantisation went wrong.
MAX_RMSE_FRACTION = 0.05
CHUNK_FRAMES = 50  # consecutive frames per calibration or check chunk: long enough for the state to matter
MIN_CHUNK_FRAMES = 10


def frame_chunks(rec: Recording, chunks: int, chunk_frames: int = CHUNK_FRAMES) -> tuple[list[np.ndarray],
                                                                                        list[np.ndarray]]:
    """`chunks` runs of consecutive frames for calibration and as many others for the check, spread
    evenly over the recording's segments (never across a segment break); shorter runs when the longest
    segment is short, down to MIN_CHUNK_FRAMES."""
    longest = max((s.frames for s in rec.segments), default=0)
    chunk_frames = min(chunk_frames, longest // 2)
    starts = [s for seg in rec.segments for s in range(seg.start, seg.stop - chunk_frames + 1, chunk_frames)] \
        if chunk_frames >= MIN_CHUNK_FRAMES else []  # (a step of 0 frames is no range at all)
    if len(starts) < 2:
        raise TimesteerError(f"{rec.path}: int8 calibration needs {2 * MIN_CHUNK_FRAMES} consecutive frames in one "
                             f"segment; the longest segment has {longest}")
    picked = [starts[i] for i in np.unique(np.linspace(0, len(starts) - 1, 2 * chunks).round().astype(int))]
    frames = rec.frames
    runs = [np.asarray(frames[s:s + chunk_frames]) for s in picked]
    return runs[0::2], runs[1::2]


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantiser logs advice ("consider pre-processing") on the root logger at every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _drive(step: OnnxStep, chunk: np.ndarray) -> np.ndarray:
    """Steering for each frame of `chunk`, from a fresh state, the state carried."""
    state = None
    steering = []
    for frame in chunk:
        value, state = step(frame, state)
        steering.append(value)
    return np.array(steering)


def quantize_step(data: bytes, calibration: list[np.ndarray], check: list[np.ndarray],
                  target_std: float) -> tuple[bytes, dict[str, Any]]:
    """The exported step `data` with int8 convolutions, and how far it steers from the float step.
    Raises TimesteerError when it strays more than MAX_RMSE_FRACTION x `target_std`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    float_step = OnnxStep(data)
    if not any(node.op_type == "Conv" for node in onnx.load_from_string(data).graph.node):
        raise TimesteerError("int8 quantises convolutions, and this model has none (a model that does not look, "
                             "like `mean`, has nothing to gain); export it without --int8")

    def feeds() -> Iterator[dict[str, np.ndarray]]:
        """What the float step is fed, frame by frame, its state carried within each chunk."""
        for chunk in calibration:
            state = float_step.initial_state()
            for frame in chunk:
                yield {"frame": frame, **dict(zip(float_step.state_names, state, strict=True))}
                _, state = float_step(frame, state)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = feeds()

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as tmp, _quiet_quantizer():
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(data)
        try:
            # reduce_range: 7-bit weights. On x86 CPUs without VNNI (AVX2 only, e.g. AMD Zen 3) ONNX
            # Runtime's u8 x s8 kernels sum pairs of products in int16 and saturate: the README's tour
            # model steered 0.0167 (5.0% of its spread) from the float step there, against 0.0008
            # (0.25%) with 7-bit weights. The file may run on either kind of CPU, so always.
            quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=True, op_types_to_quantize=["Conv"], activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
        except Exception as exc:  # the quantiser raises whatever its graph passes raise
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise TimesteerError(f"ONNX Runtime could not quantise the step ({first})") from None
        proto = onnx.load(str(target))
    int8_step = OnnxStep(proto.SerializeToString())
    want = np.concatenate([_drive(float_step, c) for c in check])
    got = np.concatenate([_drive(int8_step, c) for c in check])
    rmse = float(np.sqrt(np.mean((got - want) ** 2)))
    report = {"quantized": ["Conv"], "calibration_frames": int(sum(len(c) for c in calibration)),
              "check_frames": len(want), "rmse_vs_float": rmse,
              "max_abs_vs_float": float(np.abs(got - want).max()), "target_std": float(target_std)}
    if rmse > MAX_RMSE_FRACTION * target_std:
        raise TimesteerError(f"the int8 step steers {rmse:.4f} (RMSE over {len(want)} frames) away from the float "
                             f"step, more than {MAX_RMSE_FRACTION:.0%} of the steering's spread "
                             f"({target_std:.4f}): not written")
    entry = proto.metadata_props.add()
    entry.key, entry.value = "timesteer.int8", json.dumps(report)
    return proto.SerializeToString(), report
