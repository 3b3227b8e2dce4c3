"""Run a model through a recording in time order, carrying its state: the way it would drive.

Spans (drives) are processed as parallel lanes of a batch, chunk by chunk, with the state carried
from each chunk to the next and fresh at the start of every span. Nothing is shuffled and no window
is re-run, so a prediction at frame t depends on frames <= t of its own span only.
"""

from __future__ import annotations

import numpy as np
import torch

from timesteer.allocator import keep_freed_memory
from timesteer.data.splits import Span
from timesteer.models import SteeringModel


def frames_to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, T, H, W, C) -> (B, T, C, H, W) view (channels-last in memory), on `device`."""
    arr = np.ascontiguousarray(frames)
    if not arr.flags.writeable:  # a memory-mapped recording is read-only; torch wants to own writable memory
        arr = arr.copy()
    return torch.from_numpy(arr).to(device).permute(0, 1, 4, 2, 3)


@torch.inference_mode()
def predict_spans(model: SteeringModel, frames: np.ndarray, spans: list[Span], device: torch.device | str = "cpu",
                  chunk: int = 128, lanes: int = 16, batch_frames: int = 256,
                  commands: np.ndarray | None = None, distances: np.ndarray | None = None) -> np.ndarray:
    """Outputs (N_span_frames, K) in recording units, in the order of `spans` concatenated.

    `commands` (N,), indexed like `frames`: the command in effect at each frame
    (`data.commands.previous_commands`), used by models built with `own_command` and ignored by others;
    without them such a model is fed its own outputs. `distances` (N,), indexed like `frames`: the
    distance travelled since the frame before (`data.distance.distances_per_frame`), used by models built
    with `motion_per_distance`; without them such a model assumes its training's distance per frame.

    At most `batch_frames` frames go through the model at once (lanes x chunk), the training batch's
    size: validating many short recordings in parallel lanes must not raise peak memory above training's.
    """
    keep_freed_memory()  # batches of activations, freed and made again per chunk
    device = torch.device(device)
    was_training = model.training
    model.eval()
    k = len(model.outputs)
    out = [np.zeros((b - a, k), dtype=np.float32) for a, b in spans]
    # Longest spans first, grouped into lanes; shorter lanes are padded with their last frame.
    order = sorted(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0], reverse=True)
    for g in range(0, len(order), lanes):
        group = order[g : g + lanes]
        length = max(spans[i][1] - spans[i][0] for i in group)
        state = None
        step = max(1, min(chunk, batch_frames // len(group)))
        for t0 in range(0, length, step):
            t1 = min(t0 + step, length)
            idx = np.stack([np.minimum(np.arange(t0, t1) + spans[i][0], spans[i][1] - 1) for i in group])
            c = torch.from_numpy(np.asarray(commands[idx], dtype=np.float32)).to(device) \
                if commands is not None and model.command_input else None
            d = torch.from_numpy(np.asarray(distances[idx], dtype=np.float32)).to(device) \
                if distances is not None and model.distance_input else None
            y, state = model.forward_all(frames_to_tensor(frames[idx], device), state, c, d)  # (lanes, T, K)
            y = y.float().cpu().numpy()
            for j, i in enumerate(group):
                n = spans[i][1] - spans[i][0]
                if t0 < n:
                    out[i][t0 : min(t1, n)] = y[j, : min(t1, n) - t0]
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.float32)


def span_indexes(spans: list[Span]) -> np.ndarray:
    return np.concatenate([np.arange(a, b) for a, b in spans]) if spans else np.zeros(0, dtype=np.int64)
