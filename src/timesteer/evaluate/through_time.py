"""How far back a model looks, and what its gates do, measured on a drive.

*Temporal attribution.* The model runs through the drive in time order with its state carried. For a
frame s, replace it (by the frame before it, which removes the motion it shows, or by the drive's mean
frame, which removes everything) and run on from the state the model had just before s; the steering at
s + k then changes by some amount. Averaged over every frame s of the drive, that change at lag k is how
much the model's steering still depends on what it saw k frames ago. A single-frame model depends on
lag 0 only; one that uses time, on a few lags more. The memory horizon is the lag beyond which the
dependence stays under 10% of its peak.

*Gates.* A GRU's update gate z (PyTorch: h' = (1 - z) n + z h) and an LSTM's forget gate f say, step by
step, how much of the memory is kept; their mean over the units, along the drive, shows when the model
holds on to the past and when it rewrites it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from timesteer.data.splits import Span
from timesteer.models import SteeringModel
from timesteer.models.heads import RecurrentHead
from timesteer.train.predict import frames_to_tensor
from timesteer.train.through_time import recurrence_inputs, recurrence_of

HORIZON_FRACTION = 0.1  # the memory horizon: influence stays under this fraction of its peak


@dataclass
class Influence:
    lags: np.ndarray  # (L,) frames
    previous: np.ndarray  # (L,) mean |change of steering| when frame t-k is replaced by the frame before it
    mean_frame: np.ndarray  # (L,) ... by the drive's mean frame
    positions: int  # frames s averaged over

    def horizon_frames(self) -> int:
        """The last lag at which either replacement still moves the steering by 10% of the peak or more."""
        curve = np.maximum(self.previous, self.mean_frame)
        peak = float(np.nanmax(curve)) if len(curve) else 0.0
        if not peak > 0:
            return 0
        above = np.flatnonzero(curve >= HORIZON_FRACTION * peak)
        return int(self.lags[above[-1]])


def _step(model: SteeringModel, frames: torch.Tensor, state: tuple | None,
          distances: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple]:
    """One frame per lane: frames (B, H, W, C) uint8 on the model's device; `distances` (B,) each lane's
    distance since its frame before (models built with motion per distance or per second)."""
    d = distances[:, None] if distances is not None else None
    out, state = model(frames.permute(0, 3, 1, 2).unsqueeze(1), state, distances=d)  # (B, 1)
    return out[:, 0], state


def _stack(states: list[tuple]) -> tuple:
    return tuple(torch.cat(parts, dim=0) for parts in zip(*states, strict=True))


@torch.inference_mode()
def temporal_influence(model: SteeringModel, frames: np.ndarray, spans: list[Span], max_lag: int,
                       max_positions: int = 600, lanes: int = 48, distances: np.ndarray | None = None) -> Influence:
    """Mean |change of the steering at t| when frame t-k is replaced, for k = 0..max_lag (recording units).
    `distances` (N,): each frame's distance since the one before (`distances_for`), for a model that takes
    them; the replaced frame keeps its own."""
    model.eval()
    device = model.target_mean.device
    dist = torch.as_tensor(distances, dtype=torch.float32, device=device) if distances is not None else None
    mean_frame = torch.from_numpy(np.asarray(frames[np.linspace(0, len(frames) - 1, min(len(frames), 500))
                                                   .astype(int)], dtype=np.float32).mean(axis=0)).round()
    mean_frame = mean_frame.to(torch.uint8).to(device)
    total = sum(b - a for a, b in spans)
    every = max(1, int(np.ceil(total / max_positions)))  # evaluate every frame when the drive is short enough
    sums = {"previous": np.zeros(max_lag + 1), "mean": np.zeros(max_lag + 1)}
    counts = np.zeros(max_lag + 1)
    positions = 0
    for a, b in spans:
        seg = frames_to_tensor(np.asarray(frames[a:b])[None], device)[0].permute(0, 2, 3, 1)  # (T, H, W, C) uint8
        # The clean run, keeping the state before every frame and the steering after it.
        before, clean, state = [], [], None
        for t in range(b - a):
            before.append(state)
            y, state = _step(model, seg[t : t + 1], state, dist[a + t : a + t + 1] if dist is not None else None)
            clean.append(float(y[0]))
        clean_arr = np.asarray(clean)
        starts = list(range(0, b - a, every))
        positions += len(starts)
        for mode in ("previous", "mean"):
            for g in range(0, len(starts), lanes):
                group = starts[g : g + lanes]
                init = [s_ if s_ is not None else model.initial_state(1, device) for s_ in
                        (before[s] for s in group)]
                state = _stack(init)
                horizon = min(max_lag, (b - a) - 1 - min(group))
                for k in range(horizon + 1):
                    idx = [s + k for s in group]
                    x = seg[[min(i, b - a - 1) for i in idx]]
                    if k == 0:
                        x = (seg[[max(s - 1, 0) for s in group]] if mode == "previous"
                             else mean_frame.expand(len(group), *mean_frame.shape))
                    at = [a + min(i, b - a - 1) for i in idx]
                    y, state = _step(model, x, state, dist[at] if dist is not None else None)
                    valid = np.asarray(idx) < b - a
                    change = np.abs(y.float().cpu().numpy() - clean_arr[np.minimum(idx, b - a - 1)])
                    sums[mode][k] += change[valid].sum()
                    if mode == "previous":
                        counts[k] += valid.sum()
    with np.errstate(invalid="ignore"):
        previous = sums["previous"] / counts
        mean_curve = sums["mean"] / counts
    return Influence(np.arange(max_lag + 1), np.nan_to_num(previous), np.nan_to_num(mean_curve), positions)


@torch.inference_mode()
def gate_activity(model: SteeringModel, frames: np.ndarray, spans: list[Span],
                  chunk: int = 256, distances: np.ndarray | None = None) -> np.ndarray | None:
    """Mean update (GRU) or forget (LSTM) gate activity per frame of the spans, or None for models
    without gates. `distances` (N,): as for `temporal_influence`."""
    rnn = recurrence_of(model)
    if not isinstance(rnn, RecurrentHead) or rnn.kind not in ("gru", "lstm"):
        return None
    model.eval()
    device = model.target_mean.device
    out = []
    for a, b in spans:
        state = None
        for t0 in range(a, b, chunk):
            x = frames_to_tensor(np.asarray(frames[t0 : min(b, t0 + chunk)])[None], device)  # (1, T, C, H, W)
            d = (torch.as_tensor(distances[t0 : min(b, t0 + chunk)], dtype=torch.float32, device=device)[None]
                 if distances is not None else None)
            f, inner = recurrence_inputs(model, x, state, d)  # the recurrence's inputs and its part of the state
            out.append(rnn.gates(f, inner)[0].float().cpu().numpy())
            _, state = model(x, state, distances=d)
    return np.concatenate(out) if out else np.zeros(0)
