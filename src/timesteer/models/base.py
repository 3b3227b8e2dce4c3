"""The one contract every timesteer model follows.

    steering, state = model(frames, state=None)
        frames    (B, T, C, H, W)  uint8 or float in [0, 255], in time order
        steering  (B, T)           in the recording's steering unit
        state     tuple of tensors, batch first; None means "start of a drive"

A model is a per-frame `encoder` (runs once per frame, no memory) followed by a temporal `head`
(carries the state). Live driving calls the same forward with T=1 and the previous state, so the
cost per frame never grows with how long the car has been driving.

Normalisation lives inside the model as buffers computed on the training split: inputs are scaled
per channel, and the head predicts targets in standard units that `forward` maps back. A saved model
therefore needs nothing else to run.

A model built with `own_command` also takes `commands` (B, T): for each frame, the steering command in
effect when it was taken, i.e. the one the driver issued at the previous frame (recording units; 0, a
centred wheel, at the start of a drive). Its state ends with that command (B, 1); when `commands` is
not given the model steps through the frames feeding back its own outputs, which is what it issued
when it drives. Whoever executes a different command (an expert taking over, a human) writes it into
the state's last tensor (`with_command`).

A model built with `motion_per_distance` also takes `distances` (B, T): for each frame, the distance the
car travelled since the frame before (the recording's speed x the frame period, in the recording's speed
unit x seconds; `data/distance.py`). It divides the motion it reads (frame differences and the sideways
slide) by that distance relative to its training median (`distance_ref`), so the motion's size says the
road's curvature rather than how fast the car went. Its state holds the last distance (B, 1), before the
command of `own_command`; when `distances` is not given the model keeps it for every frame (at the
start of a drive: `distance_ref`, the training's speed). Whoever knows the speed writes the distance in
(`with_distance`).

A model built with `motion_per_second` (`distance_per_second`) is the same with the frame period in
place of the distance (a speed of 1): for a steering that is a turn rate, yaw per second is what the label
says, and dividing by the distance would take out the speed a faster car needs more turn rate for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]

# A distance per frame below this share of the training median counts as this share: a car standing still
# shows no motion to scale, and the scale (at most 1 / this) stays bounded.
MIN_DISTANCE_FRACTION = 0.25


class TemporalHead(nn.Module):
    """Base for heads: (features (B, T, ...), state) -> (outputs (B, T, K) standardised, state)."""

    # Frames of history the head needs before its first output is fully informed (frame stacks).
    context_frames: int = 0

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> State:
        return ()

    def forward(self, features: Tensor, state: State, extra: Tensor | None = None) -> tuple[Tensor, State]:
        raise NotImplementedError

    def prime(self, features: Tensor, state: State, extra: Tensor | None = None) -> State:
        """The state after seeing `features` (B, T, ...), when their outputs are not needed. Heads whose
        state is a plain frame buffer override this to skip the computation."""
        return self.forward(features, state, extra)[1]


class SteeringModel(nn.Module):
    def __init__(self, encoder: nn.Module, head: TemporalHead, *, name: str, config: dict,
                 in_shape: Sequence[int], outputs: Sequence[str] = ("steering",), command_input: bool = False,
                 distance_input: bool = False, distance_per_second: bool = False) -> None:
        super().__init__()
        self.command_input = command_input
        self.distance_input = distance_input
        # The "distance" is the time since the frame before (motion_per_second), not speed x that time.
        self.distance_per_second = distance_input and distance_per_second
        self.name = name
        self.config = dict(config)
        self.in_shape = tuple(int(v) for v in in_shape)  # (C, H, W)
        self.outputs = tuple(outputs)  # "steering" first, its lead heads, then auxiliary targets such as "speed"
        # The output that steers (`forward`): the plain steering, or a lead head chosen for the car's latency
        # (train/lead_heads.py; LoadedRun.steer_for_latency). A plain int, so a traced or exported step bakes it in.
        self.steer_column = 0
        self.encoder = encoder
        self.head = head
        channels = self.in_shape[0]
        self.register_buffer("input_mean", torch.full((channels,), 127.5))
        self.register_buffer("input_std", torch.full((channels,), 64.0))
        self.register_buffer("target_mean", torch.zeros(len(self.outputs)))
        self.register_buffer("target_std", torch.ones(len(self.outputs)))
        if distance_input:  # only then, so that checkpoints of other models load as they always did
            self.register_buffer("distance_ref", torch.ones(()))

    @property
    def context_frames(self) -> int:
        return self.head.context_frames

    @property
    def is_recurrent(self) -> bool:
        """True when the state carries information beyond a fixed window of frames."""
        return bool(getattr(self.head, "recurrent", False))

    def channels_last(self) -> SteeringModel:
        """Store 2D-convolution weights channels-last (about 1.7x faster on CPU); other tensors as they are."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
        return self

    def set_normalization(self, input_mean: Sequence[float], input_std: Sequence[float],
                          target_mean: Sequence[float], target_std: Sequence[float],
                          distance_ref: float | None = None) -> None:
        with torch.no_grad():
            if self.distance_input:
                if distance_ref is None or not distance_ref > 0:
                    raise ValueError(f"a model built with motion_per_distance needs the training's distance per "
                                     f"frame (> 0), got {distance_ref}")
                self.distance_ref.fill_(float(distance_ref))
            self.input_mean.copy_(torch.as_tensor(input_mean, dtype=torch.float32))
            self.input_std.copy_(torch.as_tensor(input_std, dtype=torch.float32).clamp_min(1e-3))
            self.target_mean.copy_(torch.as_tensor(target_mean, dtype=torch.float32))
            self.target_std.copy_(torch.as_tensor(target_std, dtype=torch.float32).clamp_min(1e-6))

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> State:
        ref = self.target_mean
        dev = torch.device(device) if device else ref.device
        state = self.head.initial_state(batch, dev, ref.dtype)
        if self.distance_input:  # the distance travelled per frame: the training's, until told otherwise
            state = (*state, self.distance_ref.to(dev, ref.dtype).expand(batch, 1).clone())
        if self.command_input:  # the last command issued: none yet, a centred wheel
            state = (*state, torch.zeros(batch, 1, device=dev, dtype=ref.dtype))
        return state

    @staticmethod
    def with_command(state: State, command: Tensor) -> State:
        """The state of a model built with `own_command`, told that `command` (B,) in recording units was
        what the car was actually asked to do (not the model's own output)."""
        return (*state[:-1], command.reshape(-1, 1).to(state[-1].dtype))

    def with_distance(self, state: State, distance: Tensor) -> State:
        """The state of a model built with `motion_per_distance`, told the distance (B,) the car travelled
        since the frame before, in the recording's speed unit x seconds."""
        i = len(state) - 1 - int(self.command_input)
        return (*state[:i], distance.reshape(-1, 1).to(state[i].dtype), *state[i + 1 :])

    def motion_scale(self, distances: Tensor) -> Tensor:
        """(B, T) distances per frame -> the factor (B, T) the motion is multiplied by: the training
        median over the distance, at most 1 / MIN_DISTANCE_FRACTION."""
        ref = self.distance_ref.to(distances.dtype)
        return ref / distances.clamp_min(ref * MIN_DISTANCE_FRACTION)

    def _command_inputs(self, commands: Tensor) -> Tensor:
        """(B, T) commands in recording units -> (B, T, 1) in the head's standard units."""
        return ((commands.to(self.target_mean.dtype) - self.target_mean[0]) / self.target_std[0]).unsqueeze(-1)

    @staticmethod
    def reset_state(state: State, reset: Tensor) -> State:
        """Zero the state of the lanes where `reset` (B,) is true: they start a new drive."""
        keep = (~reset.bool()).to(state[0].dtype) if state else None
        return tuple(s * keep.view(-1, *([1] * (s.dim() - 1))) for s in state) if state else state

    def standardize_targets(self, targets: Tensor) -> Tensor:
        """(..., K) targets in recording units -> the head's standard units."""
        return (targets - self.target_mean) / self.target_std

    def forward_standardized(self, frames: Tensor, state: State | None = None, commands: Tensor | None = None,
                             distances: Tensor | None = None) -> tuple[Tensor, State]:
        """(B, T, C, H, W) -> ((B, T, K) outputs in standard units, new state)."""
        if state is None:
            state = self.initial_state(frames.shape[0], frames.device)
        if not self.command_input and not self.distance_input:
            return self.head(self.features(frames), state)
        features = self.features(frames)
        inner, tail = self._split_state(state)
        kw, distance_state = self._distance_kwargs(features, tail, distances)
        if not self.command_input:
            out, inner = self.head(features, inner, None, **kw)
            return out, (*inner, *distance_state)
        last = tail[-1]  # (B, 1) the command issued before these frames
        if commands is not None:
            out, inner = self.head(features, inner, self._command_inputs(commands), **kw)
        else:  # driving: each frame's command is the model's own output for the frame before
            outs = []
            for t in range(features.shape[1]):
                step_kw = {k: v[:, t : t + 1] for k, v in kw.items()}
                step, inner = self.head(features[:, t : t + 1], inner, self._command_inputs(last), **step_kw)
                k = self.steer_column  # what the car was given
                last = (step[:, :, k] * self.target_std[k] + self.target_mean[k]).detach()  # (B, 1)
                outs.append(step)
            out = torch.cat(outs, dim=1)
        k = self.steer_column
        issued = (out[:, -1:, k] * self.target_std[k] + self.target_mean[k]).detach()  # (B, 1) recording units
        return out, (*inner, *distance_state, issued)

    def head_inputs(self, features: Tensor, state: State, distances: Tensor | None = None) -> tuple[State, dict]:
        """The head's own part of `state` and the keyword inputs (`motion_scale`) it gets with these features,
        as `forward` gives them; a model built with `own_command` also joins its command inside the head."""
        inner, tail = self._split_state(state)
        return inner, self._distance_kwargs(features, tail, distances)[0]

    def _split_state(self, state: State) -> tuple[State, State]:
        """(the head's own state, the model's inputs carried in the state: distance, then command)."""
        n = int(self.distance_input) + int(self.command_input)
        return tuple(state[: len(state) - n]), tuple(state[len(state) - n :])

    def _distance_kwargs(self, features: Tensor, tail: State, distances: Tensor | None) -> tuple[dict, State]:
        """The head's `motion_scale` (B, T) and the distance to carry on, for a model built with
        `motion_per_distance`; nothing otherwise."""
        if not self.distance_input:
            return {}, ()
        b, t = features.shape[:2]
        held = tail[0]  # (B, 1)
        d = distances.to(held.dtype) if distances is not None else held.expand(b, t)
        return {"motion_scale": self.motion_scale(d)}, (d[:, -1:].detach(),)

    def features(self, frames: Tensor) -> Tensor:
        """(B, T, C, H, W) frames -> (B, T, ...) per-frame encoder features (normalised inside)."""
        b, t = frames.shape[:2]
        x = frames.float()
        x = (x - self.input_mean.view(1, 1, -1, 1, 1)) / self.input_std.view(1, 1, -1, 1, 1)  # (B, T, C, H, W)
        feats = self.encoder(x.reshape(b * t, *x.shape[2:]))  # (B*T, ...)
        return feats.reshape(b, t, *feats.shape[1:])  # (B, T, ...)

    @torch.no_grad()
    def prime_state(self, frames: Tensor, state: State | None = None, commands: Tensor | None = None,
                    distances: Tensor | None = None) -> State:
        """The state after the history `frames` (B, T, C, H, W), without computing their outputs where
        the head allows (training windows use it for frame history and burn-in)."""
        if state is None:
            state = self.initial_state(frames.shape[0], frames.device)
        if self.command_input:
            return self.forward_standardized(frames, state, commands, distances)[1]
        if self.distance_input:
            features = self.features(frames)
            inner, tail = self._split_state(state)
            kw, distance_state = self._distance_kwargs(features, tail, distances)
            return (*self.head.prime(features, inner, None, **kw), *distance_state)
        return self.head.prime(self.features(frames), state)

    def forward_all(self, frames: Tensor, state: State | None = None, commands: Tensor | None = None,
                    distances: Tensor | None = None) -> tuple[Tensor, State]:
        """All outputs (B, T, K) in recording units (steering, then auxiliary targets)."""
        out, state = self.forward_standardized(frames, state, commands, distances)
        return out * self.target_std + self.target_mean, state

    def forward(self, frames: Tensor, state: State | None = None, *, standardized: bool = False,
                commands: Tensor | None = None, distances: Tensor | None = None) -> tuple[Tensor, State]:
        """(B, T) steering (the `steer_column` output) and the new state; with `standardized`, all outputs
        (B, T, K) in the head's standard units (what training's loss compares, and what DDP's hooks need to
        see). `commands` and `distances` (B, T): see the module docstring (models built with `own_command`
        and `motion_per_distance` only; others ignore them)."""
        if standardized:
            return self.forward_standardized(frames, state, commands, distances)
        out, state = self.forward_all(frames, state, commands, distances)
        return out[..., self.steer_column], state  # (B, T)
