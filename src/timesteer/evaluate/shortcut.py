"""The shortcut test: does the steering come from the road ahead, or from the car's own recent motion?

The sideways slide between two frames is the car's yaw over one frame period: steering x speed x period.
A model that reads it reads what the wheels just did (the copycat problem: de Haan et al. 2019, Wen et
al. 2020), and it breaks when the speed or the frame rate differ from training. Three replays of the
same frames tell:

- **frozen**: each frame held still (the frame repeated, the model's state built from it alone): no
  motion at all. A model that reads the road steers as before; a motion reader loses its answer.
- **2x**: every other frame (the drive replayed at twice its speed): the motion per frame doubles,
  the road's shape does not. The labels are the same steering, so a model that reads the road keeps
  its error; one that reads the motion's size steers about twice as hard.
- **0.5x**: every frame shown twice (what a camera that repeats frames, or a car at half the frame
  period's motion on every other frame, gives): half the frame steps carry no motion.

A model built with `motion_per_distance` is told the speed each replay stands for: the distance per
frame is the recorded one times 2 at 2x and times 0.5 at 0.5x (a car at half the speed, whose camera
repeats a frame where it moved too little to change the picture), and as recorded when frozen (the
speedometer says the car moves; the picture says it does not). One built with `motion_per_second` is
told the recorded frame periods in every replay: the camera's clock is the same, only the car's speed
is not.

For each: the RMSE against the human's labels on those frames, and the *gain*, the least-squares
slope of the replay's steering against the normal replay's on the same frames (both about the
training mean): 1 for a model that ignores the motion's size, 2 at 2x for one that is proportional
to it, near 0 when frozen for one that steers by motion alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from timesteer.data.splits import Span
from timesteer.evaluate.metrics import rmse
from timesteer.models import SteeringModel
from timesteer.train.predict import frames_to_tensor, predict_spans

FROZEN_FRAMES = 16  # frames the still picture is shown for: the default truncated-BPTT length
FROZEN_SAMPLES = 256  # frames tested frozen (spread over the spans): enough for an RMSE to two digits


def _resampled(frames: np.ndarray, spans: list[Span], pick: Any) -> tuple[np.ndarray, list[Span], np.ndarray]:
    """The frames `pick(a, b)` chooses from each span, laid end to end as new spans; their indexes."""
    chosen = [pick(a, b) for a, b in spans]
    chosen = [c for c in chosen if len(c)]
    idx = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    ends = np.cumsum([len(c) for c in chosen])
    return np.asarray(frames[idx]), [(int(e - len(c)), int(e)) for c, e in zip(chosen, ends, strict=True)], idx


def _gain(replay: np.ndarray, normal: np.ndarray, centre: float) -> float | None:
    x, y = normal - centre, replay - centre
    denominator = float(np.sum(x * x))
    return float(np.sum(x * y) / denominator) if denominator > 0 else None


def _repeat(values: np.ndarray | None, batch: np.ndarray, wanted: bool) -> torch.Tensor | None:
    """(B, FROZEN_FRAMES) of each picked frame's value, for a model that takes them."""
    if values is None or not wanted:
        return None
    return torch.from_numpy(np.repeat(values[batch, None], FROZEN_FRAMES, axis=1).astype(np.float32))


@torch.inference_mode()
def _frozen(model: SteeringModel, frames: np.ndarray, idx: np.ndarray, commands: np.ndarray | None,
            distances: np.ndarray | None = None) -> np.ndarray:
    """The steering after each frame in `idx` was shown FROZEN_FRAMES times from a fresh state."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(idx), 32):
        batch = idx[i : i + 32]
        still = np.repeat(np.asarray(frames[batch])[:, None], FROZEN_FRAMES, axis=1)  # (B, T, H, W, C)
        c = _repeat(commands, batch, model.command_input)
        d = _repeat(distances, batch, model.distance_input)
        y, _ = model.forward_all(frames_to_tensor(still, torch.device("cpu")), None, c, d)
        out.append(y[:, -1, 0].float().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def shortcut_test(model: SteeringModel, frames: np.ndarray, spans: list[Span], steering: np.ndarray,
                  commands: np.ndarray | None = None, distances: np.ndarray | None = None) -> dict[str, Any]:
    """RMSE and gain of the steering under the three replays (see the module's docstring); JSON-ready.
    `commands` and `distances` (N,), indexed like `frames`, for models that take them."""
    centre = float(model.target_mean[0])

    def run(sub_frames: np.ndarray, sub_spans: list[Span], idx: np.ndarray, speed_factor: float = 1.0) -> np.ndarray:
        sub_commands = commands[idx] if commands is not None else None  # the command in effect at each frame
        # The speed a replay stands for changes the distance per frame, not the frame period.
        factor = 1.0 if model.distance_per_second else speed_factor
        sub_distances = distances[idx] * factor if distances is not None else None
        return predict_spans(model, sub_frames, sub_spans, commands=sub_commands,
                             distances=sub_distances)[:, 0].astype(np.float64)

    normal_frames, normal_spans, normal_idx = _resampled(frames, spans, lambda a, b: np.arange(a, b))
    normal = run(normal_frames, normal_spans, normal_idx)
    by_frame = dict(zip(normal_idx.tolist(), normal.tolist(), strict=True))
    result: dict[str, Any] = {"frames": len(normal_idx), "rmse": rmse(normal, steering[normal_idx])}

    for name, factor, pick in (("2x", 2.0, lambda a, b: np.arange(a, b, 2)),
                               ("0.5x", 0.5, lambda a, b: np.repeat(np.arange(a, b), 2))):
        sub_frames, sub_spans, idx = _resampled(frames, spans, pick)
        replay = run(sub_frames, sub_spans, idx, factor)
        base = np.array([by_frame[i] for i in idx.tolist()])
        result[name] = {"frames": len(idx), "rmse": rmse(replay, steering[idx]),
                        "gain": _gain(replay, base, centre)}
    picked = normal_idx[np.unique(np.linspace(0, len(normal_idx) - 1, min(FROZEN_SAMPLES, len(normal_idx)))
                                  .round().astype(int))] if len(normal_idx) else normal_idx
    frozen = _frozen(model, frames, picked, commands, distances).astype(np.float64)
    result["frozen"] = {"frames": len(picked), "rmse": rmse(frozen, steering[picked]),
                        "rmse_normal_same_frames": rmse(np.array([by_frame[i] for i in picked.tolist()]),
                                                        steering[picked]),
                        "gain": _gain(frozen, np.array([by_frame[i] for i in picked.tolist()]), centre)}
    return _finite(result)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def format_shortcut(s: dict[str, Any]) -> str:
    def num(v: float | None, fmt: str = ".4f") -> str:
        return "-" if v is None else format(v, fmt)

    return (f"shortcut test (RMSE; gain = steering relative to the normal replay's): normal {num(s['rmse'])}; "
            f"frozen {num(s['frozen']['rmse'])} (normal on those frames {num(s['frozen']['rmse_normal_same_frames'])},"
            f" gain {num(s['frozen']['gain'], '.2f')}); 2x {num(s['2x']['rmse'])} (gain "
            f"{num(s['2x']['gain'], '.2f')}); 0.5x {num(s['0.5x']['rmse'])} (gain {num(s['0.5x']['gain'], '.2f')})")
