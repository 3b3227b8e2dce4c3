"""Temporal heads: what a model does with per-frame features over time.

Every head maps (features (B, T, ...), state, extra) -> (outputs (B, T, K) in standard units, state),
with every state tensor batch-first so lanes can be reset independently and exported to ONNX as is.
`extra` (B, T, E) or None: per-frame inputs that are not pictures (the command the driver issued last
frame, for models built with `own_command`); a head that takes them joins them to its features where
they enter the part that learns (`extra_dim` at construction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from timesteer.models.base import State, TemporalHead
from timesteer.models.encoders import PILOTNET_CONVS, ConvEncoder, conv_stack, output_shape
from timesteer.models.motion import ShiftFeatures


def mlp(sizes: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.ELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class ConstantHead(TemporalHead):
    """One learnable constant per output: the floor every model must beat (starts at the training mean)."""

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(outputs))

    def forward(self, features: Tensor, state: State, extra: Tensor | None = None) -> tuple[Tensor, State]:
        b, t = features.shape[:2]
        return self.bias.expand(b, t, -1), state


class FrameMLPHead(TemporalHead):
    """Each frame on its own: features -> MLP -> outputs. No state."""

    def __init__(self, in_dim: int, hidden: Sequence[int], outputs: int, dropout: float = 0.0,
                 extra_dim: int = 0) -> None:
        super().__init__()
        self.net = mlp([in_dim + extra_dim, *hidden, outputs], dropout)

    def forward(self, features: Tensor, state: State, extra: Tensor | None = None) -> tuple[Tensor, State]:
        return self.net(join(features, extra)), state  # (B, T, K)


class RecurrentHead(TemporalHead):
    """A recurrence over per-frame features: LSTM, GRU, or the plain Elman RNN (`h = tanh(W x + U h + b)`,
    the one whose gradients vanish through time). The output layer also sees the current frame's
    features (a skip connection), so the recurrence only has to learn what time adds."""

    recurrent = True

    def __init__(self, kind: str, in_dim: int, hidden: int, layers: int, outputs: int,
                 dropout: float = 0.0, skip: bool = True, extra_dim: int = 0) -> None:
        super().__init__()
        in_dim += extra_dim
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.kind, self.hidden, self.layers, self.skip = kind, hidden, layers, skip
        self.rnn = rnn_cls(in_dim, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden + (in_dim if skip else 0), outputs)

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        h = torch.zeros(batch, self.layers, self.hidden, device=device, dtype=dtype)
        return (h, h.clone()) if self.kind == "lstm" else (h,)

    def forward(self, features: Tensor, state: State, extra: Tensor | None = None) -> tuple[Tensor, State]:
        features = join(features, extra)
        carried = tuple(s.transpose(0, 1).contiguous() for s in state)  # (layers, B, hidden) for torch
        y, new = self.rnn(features, carried if self.kind == "lstm" else carried[0])  # y (B, T, hidden)
        new = new if self.kind == "lstm" else (new,)
        z = torch.cat([y, features], dim=-1) if self.skip else y
        return self.out(self.dropout(z)), tuple(s.transpose(0, 1) for s in new)

    def unroll(self, features: Tensor, state: State) -> tuple[Tensor, list[tuple[Tensor, ...]]]:
        """The same computation one step at a time, for measuring gradients through time: outputs
        (B, T, K) and, for every step j, the hidden state as the tensors through which every later use
        of it passes (the output at step j and the steps after): (h_j,), or (h_j, c_j) for an LSTM,
        each (layers, B, hidden)."""
        carried = tuple(s.transpose(0, 1).contiguous() for s in state)
        hiddens, outs = [], []
        for t in range(features.shape[1]):
            f = features[:, t : t + 1]
            _, new = self.rnn(f, carried if self.kind == "lstm" else carried[0])
            new = new if self.kind == "lstm" else (new,)
            h = new[0]  # (layers, B, hidden)
            y = h[-1].unsqueeze(1)  # (B, 1, hidden): the last layer's output is its hidden state
            z = torch.cat([y, f], dim=-1) if self.skip else y
            outs.append(self.out(self.dropout(z)))
            hiddens.append(new)
            carried = new
        return torch.cat(outs, dim=1), hiddens

    def gates(self, features: Tensor, state: State) -> Tensor:
        """(B, T) mean gate activity of the first layer, step by step: the GRU's update gate z (PyTorch:
        h' = (1 - z) n + z h, so z near 1 keeps the old state) or the LSTM's forget gate f (near 1 keeps
        the cell). High values: the memory is being kept; low: it is being rewritten."""
        if self.kind == "rnn":
            raise ValueError("a plain RNN has no gates")
        w_ih, w_hh = self.rnn.weight_ih_l0, self.rnn.weight_hh_l0
        b_ih, b_hh = self.rnn.bias_ih_l0, self.rnn.bias_hh_l0
        rows = slice(self.hidden, 2 * self.hidden)  # GRU rows [r, z, n]; LSTM rows [i, f, g, o]
        values = []
        for t in range(features.shape[1]):
            h = state[0][:, 0]  # (B, hidden), first layer
            pre = features[:, t] @ w_ih[rows].T + b_ih[rows] + h @ w_hh[rows].T + b_hh[rows]
            values.append(torch.sigmoid(pre).mean(dim=-1))
            _, state = self.forward(features[:, t : t + 1], state)
        return torch.stack(values, dim=1)


def join(features: Tensor, extra: Tensor | None) -> Tensor:
    """(B, T, F) features with the (B, T, E) extra inputs appended, or as they are."""
    return features if extra is None else torch.cat([features, extra.to(features.dtype)], dim=-1)


def with_history(frames: Tensor, buffer: Tensor, started: Tensor) -> tuple[Tensor, Tensor]:
    """Prepend the buffered previous frames to (B, T, ...) frames.

    A lane that has not started yet (`started` 0: start of a drive) has no past: its buffer is filled
    with copies of its first frame, as a camera that just switched on would see.
    Returns (B, k-1+T, ...) and the new buffer of the last k-1 frames.
    """
    k1 = buffer.shape[1]
    if k1 == 0:  # no history kept (slicing [-0:] would keep everything)
        return frames, buffer
    first = frames[:, :1].expand(-1, k1, *frames.shape[2:])
    gate = started.view(-1, *([1] * (frames.dim() - 1))) > 0
    past = torch.where(gate, buffer, first)
    seq = torch.cat([past, frames], dim=1)
    return seq, seq[:, -k1:]


class MotionHead(TemporalHead):
    """Motion in the input. The CNN sees the current frame stacked with `frames`-1 frame differences
    (the Rambo idea); optionally (`shift_bands` > 0) the features also get the sideways slide of the
    picture between the previous frame and this one, band by band (`ShiftFeatures`: the car's yaw).
    The features feed another head: an MLP for diffnet, a GRU or LSTM otherwise.

    The state is a ring of the last k-1 normalised frames plus the inner head's state, so each new
    frame costs one CNN pass.

    `motion_scale` (B, T), from a model built with `motion_per_distance`: each frame's motion (its frame
    differences and its slide, not the clarity of the match) is multiplied by it, the training's distance
    per frame over this frame's (`SteeringModel.motion_scale`). For small motions a difference image is
    the motion times the picture's gradient, so both scale with it; the older differences of a longer
    stack take the current frame's factor.
    """

    def __init__(self, in_shape: Sequence[int], frames: int, feature_dim: int, dropout: float,
                 then_factory: Callable[[int], TemporalHead], shift_bands: int = 0, max_shift_px: int = 8,
                 extra_dim: int = 0, motion_dropout: float = 0.0) -> None:
        super().__init__()
        c, h, w = in_shape
        self.motion_dropout = motion_dropout  # training only: per lane and chunk, hide the motion
        self.frames = frames  # frames the CNN sees: the current one and frames-1 differences
        self.shift = ShiftFeatures(h, w, shift_bands, max_shift_px) if shift_bands > 0 else None
        self.k = max(frames, 2 if self.shift is not None else 1)  # frames of history kept, current included
        self.frame_shape = (c, h, w)
        self.encoder = ConvEncoder((c * frames, h, w), feature_dim, dropout)
        # `then_factory(dim, extra_dim)`: the inner head joins the extra inputs to these features itself.
        self.then = then_factory(feature_dim + (self.shift.out_dim if self.shift is not None else 0), extra_dim)
        self.context_frames = self.k - 1 + self.then.context_frames
        self.recurrent = getattr(self.then, "recurrent", False)

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        return (torch.zeros(batch, self.k - 1, *self.frame_shape, device=device, dtype=dtype),
                torch.zeros(batch, device=device, dtype=dtype), *self.then.initial_state(batch, device, dtype))

    def stack(self, seq: Tensor, t: int) -> Tensor:
        """(B, k-1+T, C, H, W) history + frames -> (B, T, frames*C, H, W): [x_j, x_j - x_{j-1}, ...]."""
        k1 = self.k - 1
        parts = [seq[:, k1:]] + [seq[:, k1 - i : k1 - i + t] - seq[:, k1 - i - 1 : k1 - i - 1 + t]
                                 for i in range(self.frames - 1)]
        return torch.cat(parts, dim=2)

    def forward(self, features: Tensor, state: State, extra: Tensor | None = None,
                motion_scale: Tensor | None = None) -> tuple[Tensor, State]:
        f, new_buffer = self.inputs(features, state, motion_scale)
        out, inner = self.then(f, tuple(state[2:]), extra)
        return out, (new_buffer, torch.ones_like(state[1]), *inner)

    def inputs(self, features: Tensor, state: State, motion_scale: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """What the inner head gets for these frames, (B, T, F): the CNN on each frame and its differences,
        then the slide; and the new frame buffer. (Also what the through-time measurements differentiate from.)"""
        b, t = features.shape[:2]
        seq, new_buffer = with_history(features, state[0], state[1])  # (B, k-1+T, C, H, W)
        stacked = self.stack(seq, t)  # (B, T, frames*C, H, W)
        c = self.frame_shape[0]
        if motion_scale is not None and self.frames > 1:
            scale = motion_scale.to(stacked.dtype)[:, :, None, None, None]  # (B, T, 1, 1, 1)
            stacked = torch.cat([stacked[:, :, :c], stacked[:, :, c:] * scale], dim=2)
        keep = None
        if self.training and self.motion_dropout > 0:
            keep = (torch.rand(b, 1, 1, device=features.device) >= self.motion_dropout).to(stacked.dtype)  # (B,1,1)
            stacked = torch.cat([stacked[:, :, :c], stacked[:, :, c:] * keep[..., None, None]], dim=2)
        f = self.encoder(stacked.reshape(b * t, *stacked.shape[2:])).reshape(b, t, -1)  # (B, T, feature_dim)
        if self.shift is not None:
            k1 = self.k - 1
            prev, cur = seq[:, k1 - 1 : k1 - 1 + t], seq[:, k1:]  # (B, T, C, H, W) each
            slide = self.shift(prev.reshape(b * t, *prev.shape[2:]), cur.reshape(b * t, *cur.shape[2:]))
            slide = slide.reshape(b, t, -1) * (keep if keep is not None else 1.0)
            if motion_scale is not None:  # the slides in pixels, not their clarity
                bands = self.shift.bands
                slide = torch.cat([slide[..., :bands] * motion_scale.to(slide.dtype).unsqueeze(-1),
                                   slide[..., bands:]], dim=-1)
            f = torch.cat([f, slide], dim=-1)  # (B, T, feature_dim + 2*bands)
        return f, new_buffer

    def prime(self, features: Tensor, state: State, extra: Tensor | None = None,
              motion_scale: Tensor | None = None) -> State:
        """History frames: a stateless inner head only needs the buffer filled, no convolution."""
        if len(state) > 2:
            return self.forward(features, state, extra, motion_scale)[1]
        _, new_buffer = with_history(features, state[0], state[1])
        return new_buffer, torch.ones_like(state[1])


class Conv3dLSTMHead(TemporalHead):
    """The Komanda design: a short causal 3D convolution over the last k frames' stem features, more
    convolutions, then a stateful LSTM. State: the last k-1 stem feature maps, a started flag, (h, c)."""

    recurrent = True

    def __init__(self, stem_shape: Sequence[int], frames: int, feature_dim: int, hidden: int, outputs: int,
                 dropout: float = 0.0, skip: bool = True, extra_dim: int = 0) -> None:
        super().__init__()
        c, h, w = stem_shape
        self.k = frames
        self.context_frames = frames - 1
        self.stem_shape = (c, h, w)
        self.hidden = hidden
        self.skip = skip
        self.conv3d = nn.Conv3d(c, 48, kernel_size=(frames, 5, 5), stride=(1, 2, 2),
                                padding=(0, 2 if min(h, w) < 5 else 0, 2 if min(h, w) < 5 else 0))
        with torch.no_grad():
            c3 = self.conv3d(torch.zeros(1, c, frames, h, w)).shape  # (1, 48, 1, h', w')
        self.convs = conv_stack(48, (c3[3], c3[4]), PILOTNET_CONVS[3:])
        flat = int(torch.tensor(output_shape(self.convs, (48, c3[3], c3[4]))).prod())
        self.project = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, feature_dim), nn.ELU())
        self.lstm = nn.LSTM(feature_dim + extra_dim, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden + (feature_dim + extra_dim if skip else 0), outputs)

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        h = torch.zeros(batch, 1, self.hidden, device=device, dtype=dtype)
        return (torch.zeros(batch, self.k - 1, *self.stem_shape, device=device, dtype=dtype),
                torch.zeros(batch, device=device, dtype=dtype), h, h.clone())

    def forward(self, features: Tensor, state: State, extra: Tensor | None = None) -> tuple[Tensor, State]:
        buffer, started, h, c = state
        b, t = features.shape[:2]
        seq, new_buffer = with_history(features, buffer, started)  # (B, k-1+T, C', H', W')
        y = self.conv3d(seq.transpose(1, 2))  # (B, 48, T, h, w): one output per new frame
        y = nn.functional.elu(y).transpose(1, 2).reshape(b * t, *y.shape[1:2], *y.shape[3:])  # (B*T, 48, h, w)
        f = join(self.project(self.convs(y.contiguous(memory_format=torch.channels_last))).reshape(b, t, -1), extra)
        z, (h_new, c_new) = self.lstm(f, (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous()))
        z = torch.cat([z, f], dim=-1) if self.skip else z
        out = self.out(self.dropout(z))  # (B, T, K)
        return out, (new_buffer, torch.ones_like(started), h_new.transpose(0, 1), c_new.transpose(0, 1))
