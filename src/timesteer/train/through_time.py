"""Gradients through time, measured: how strongly the loss at step t reaches back to the hidden state at
step t-k, for k = 0 .. seq_len-1 (`train --grad-through-time`).

Backpropagation through time multiplies one Jacobian per step. A plain tanh RNN's Jacobians shrink the
gradient at every step, so it cannot learn what happened many frames ago (vanishing gradients); the GRU
and LSTM gates let it pass (the lecture's point). Here, for a few batches an epoch, the recurrence is
unrolled step by step and `autograd.grad` gives, for every step t, the norm of dL_t/dh_{t-k}; averaged
over t (and batches) it is one curve per epoch, written to metrics.csv and TensorBoard and drawn in the
report. Only the recurrence and the output layer are differentiated (the CNN features are fixed), and no
parameter gradient is touched, so training is unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from timesteer.models import SteeringModel
from timesteer.models.heads import MotionHead, RecurrentHead


def recurrence_of(model: SteeringModel) -> RecurrentHead | None:
    """The model's GRU, LSTM or RNN, or None: no recurrence, or one that also takes the issued command
    (`own_command`), which these measurements do not feed."""
    if model.command_input:
        return None
    head = model.head
    if isinstance(head, MotionHead):
        head = head.then
    return head if isinstance(head, RecurrentHead) else None


def recurrence_inputs(model: SteeringModel, frames: Tensor, state: tuple | None,
                      distances: Tensor | None = None) -> tuple[Tensor, tuple]:
    """The per-frame features the recurrence gets (B, T, F), detached, and its own part of the state.
    `distances` (B, T): a model built with `motion_per_distance` (or per second) scales its motion by them."""
    if state is None:
        state = model.initial_state(frames.shape[0], frames.device)
    with torch.no_grad():
        features = model.features(frames)
        inner, kw = model.head_inputs(features, state, distances)
        if isinstance(model.head, MotionHead):
            f, _ = model.head.inputs(features, inner, **kw)
            return f, tuple(s.detach() for s in inner[2:])
        return features, tuple(s.detach() for s in inner)


def gradient_norms(model: SteeringModel, frames: Tensor, targets: Tensor, state: tuple | None = None,
                   distances: Tensor | None = None) -> np.ndarray:
    """(T,) mean over steps t of |dL_t / dh_{t-k}| for k = 0..T-1, L_t the squared steering error (standard
    units) at step t averaged over the batch, h the whole recurrent state (an LSTM's h and c together)."""
    rnn = recurrence_of(model)
    if rnn is None:
        raise ValueError(f"{model.name} has no recurrent head (GRU, LSTM or RNN) to measure")
    f, inner = recurrence_inputs(model, frames, state, distances)
    with torch.enable_grad():
        out, hiddens = rnn.unroll(f, inner)  # out (B, T, K); hiddens[j]: (h_j,) or (h_j, c_j)
        t_len, parts = f.shape[1], len(hiddens[0])
        sums, counts = np.zeros(t_len), np.zeros(t_len)
        for t in range(t_len):
            loss = ((out[:, t, 0] - targets[:, t, 0]) ** 2).mean()
            flat = [x for j in range(t + 1) for x in hiddens[j]]
            grads = torch.autograd.grad(loss, flat, retain_graph=True, allow_unused=True)
            for j in range(t + 1):
                # The norm over the whole state: h, and for an LSTM its cell c too.
                squares = sum(float(g.pow(2).sum()) for g in grads[j * parts : (j + 1) * parts] if g is not None)
                sums[t - j] += squares**0.5
                counts[t - j] += 1
    with np.errstate(invalid="ignore"):
        return sums / counts
