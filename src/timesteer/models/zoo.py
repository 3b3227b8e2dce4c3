"""The registered models: the mean floor, single-frame baselines, and models that use time.

| name        | per-frame encoder            | temporal head                          | state                 |
|-------------|------------------------------|----------------------------------------|-----------------------|
| mean        | none                         | learnable constant                     | none                  |
| pilotnet    | PilotNet convs + FC 100      | FC 50-10-1                             | none                  |
| diffnet     | none (normalised frames)     | frame + k-1 differences -> PilotNet    | last k-1 frames       |
| cnn_lstm    | none (normalised frames)     | frame + difference -> PilotNet -> LSTM | last frame, (h, c)    |
| cnn_gru     | none (normalised frames)     | frame + difference -> PilotNet -> GRU  | last frame, h         |
| rnn         | none (normalised frames)     | frame + difference -> PilotNet -> RNN  | last frame, h         |

| conv3d_lstm | PilotNet's first two convs   | causal 3D conv over k frames -> LSTM   | last k-1 maps, (h, c) |

By default `cnn_lstm` and `cnn_gru` see each frame stacked with its difference from the previous one
(`motion_frames=2`), and their recurrence also gets how far the picture slid sideways since the last
frame, band by band (`shift_bands=8`, `ShiftFeatures`): the car's own motion, its yaw, is what tells
how it is steering. Without motion a CNN+GRU does no better than PilotNet on one frame; the slide is
what makes time pay in every setting measured (BENCHMARKS.md). Their CNN runs inside the head, after a
one-frame buffer, still once per frame. `motion_frames=1, shift_bands=0` gives the plain variant: a
per-frame PilotNet encoder feeding the recurrence.

Every model but `mean` takes `own_command=true`: it also gets the steering command issued at the frame
before (`models/base.py`). A controller knows what it asked for; with the car's observed motion that
separates a disturbance from its own steering. Measured in closed loop (BENCHMARKS.md) before it is
recommended: off by default.

`diffnet` and the recurrent models that see motion also take `motion_per_distance`: their motion
(frame differences, the slide) divided by the distance travelled per frame, which needs the recording's
speed (`models/base.py`); or `motion_per_second`: divided by the time between frames instead, for a
steering that is a turn rate (a differential drive's yaw command), which a curve asks more of the faster
the car goes, so the speed must stay in the motion. Left unset, training picks from what the recordings'
steering sets (train/motion_default.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from timesteer.config import Hidden, PixelsAcross, Range, validate
from timesteer.errors import ConfigError
from timesteer.models.base import SteeringModel
from timesteer.models.encoders import ConvEncoder, ConvStem, Identity
from timesteer.models.heads import ConstantHead, Conv3dLSTMHead, FrameMLPHead, MotionHead, RecurrentHead
from timesteer.models.registry import register_model

Dropout = Range(0, 1, open_max=True)
FrameStack = Range(2, 64)  # frames stacked into one input: Komanda's 3D conv used 6


@dataclass
class MeanConfig:
    pass


@dataclass
class OwnCommand:
    # Also give the model the steering command issued at the previous frame (the driver knows what it
    # asked for; with the car's observed motion that tells a disturbance apart from its own steering).
    own_command: bool = False


@dataclass
class MotionPerDistance:
    """What the motion read between frames is measured against: the distance or the time (or neither).
    None (the default) is settled by training from the recordings (train/motion_default.py): per distance
    for a wheel angle with the speed recorded, per second for a turn rate, neither otherwise; a model
    built outside training with None takes neither."""

    # Divide the motion read between frames by the distance travelled since the frame before (speed x
    # frame period): the slide then says the road's curvature, whatever the speed or frame rate. Needs the
    # recording's speed in training and evaluation, and the car's speed when it drives.
    motion_per_distance: bool | None = None
    # Divide it by the time since the frame before instead (the frame period): for a steering that is a
    # turn rate (Duckietown's yaw command), where yaw per second, not per distance, is what the label says.
    # Needs only the timestamps: lost frames and another frame rate no longer change the motion's size.
    motion_per_second: bool | None = None


@dataclass
class PilotNetConfig(OwnCommand):
    feature_dim: Annotated[int, Hidden] = 100
    hidden: Annotated[tuple[int, ...], Hidden] = (50, 10)
    dropout: Annotated[float, Dropout] = 0.2

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class DiffNetConfig(OwnCommand, MotionPerDistance):
    frames: Annotated[int, FrameStack] = 3  # the current frame and 2 differences
    feature_dim: Annotated[int, Hidden] = 100
    hidden: Annotated[tuple[int, ...], Hidden] = (50, 10)
    dropout: Annotated[float, Dropout] = 0.2
    shift_bands: Annotated[int, Range(0, 256)] = 0  # > 0: also the picture's sideways slide per band (yaw)
    max_shift_px: Annotated[int, PixelsAcross] = 8

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class RecurrentConfig(OwnCommand, MotionPerDistance):
    motion_frames: Annotated[int, Range(1, 64)] = 2  # 2: the frame and its difference from the last; 1: frame alone
    # The picture's sideways slide since the last frame in this many horizontal bands (the car's yaw,
    # `models/motion.py`); 0 turns it off.
    shift_bands: Annotated[int, Range(0, 256)] = 8
    max_shift_px: Annotated[int, PixelsAcross] = 8  # largest slide looked for, in working-frame pixels
    # In training, the share of chunks (per lane) whose motion (frame difference and slide) is hidden, as
    # ChauffeurNet dropped past motion: the picture alone must carry the steering then.
    motion_dropout: Annotated[float, Dropout] = 0.0
    feature_dim: Annotated[int, Hidden] = 64
    hidden: Annotated[int, Hidden] = 64
    layers: Annotated[int, Range(1, 16)] = 1
    dropout: Annotated[float, Dropout] = 0.2
    skip: bool = True

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class Conv3dLSTMConfig(OwnCommand):
    frames: Annotated[int, FrameStack] = 6  # Komanda: the last 6 frames
    feature_dim: Annotated[int, Hidden] = 64
    hidden: Annotated[int, Hidden] = 32  # Komanda: a 32-unit LSTM
    dropout: Annotated[float, Dropout] = 0.2
    skip: bool = True
    aux: tuple[str, ...] = field(default_factory=lambda: ("speed",))  # auxiliary targets when recorded

    def __post_init__(self) -> None:
        validate(self)


def _model(encoder, head, name, in_shape, outputs, own_command: bool = False,
           motion: MotionPerDistance | None = None) -> SteeringModel:
    per_second = bool(motion and motion.motion_per_second)
    if motion and motion.motion_per_distance and per_second:
        raise ConfigError("motion_per_distance and motion_per_second: choose one (per distance for a wheel angle, "
                          "per second for a turn rate)")
    return SteeringModel(encoder, head, name=name, config={}, in_shape=in_shape, outputs=outputs,
                         command_input=own_command,
                         distance_input=bool(motion and (motion.motion_per_distance or per_second)),
                         distance_per_second=per_second)


@register_model("mean", MeanConfig, "predicts the training mean: the floor every model must beat")
def mean(in_shape, outputs, cfg: MeanConfig) -> SteeringModel:
    return _model(Identity(), ConstantHead(len(outputs)), "mean", in_shape, outputs)


@register_model("pilotnet", PilotNetConfig, "NVIDIA PilotNet on one frame (about 250k parameters at 66x200)")
def pilotnet(in_shape, outputs, cfg: PilotNetConfig) -> SteeringModel:
    encoder = ConvEncoder(in_shape, cfg.feature_dim, cfg.dropout)
    head = FrameMLPHead(cfg.feature_dim, cfg.hidden, len(outputs), cfg.dropout, extra_dim=int(cfg.own_command))
    return _model(encoder, head, "pilotnet", in_shape, outputs, cfg.own_command)


@register_model("diffnet", DiffNetConfig, "PilotNet on the current frame stacked with frame differences (no RNN)")
def diffnet(in_shape, outputs, cfg: DiffNetConfig) -> SteeringModel:
    head = MotionHead(in_shape, cfg.frames, cfg.feature_dim, cfg.dropout,
                      lambda dim, extra: FrameMLPHead(dim, cfg.hidden, len(outputs), cfg.dropout, extra),
                      cfg.shift_bands, cfg.max_shift_px, int(cfg.own_command))
    return _model(Identity(), head, "diffnet", in_shape, outputs, cfg.own_command, cfg)


def _recurrent(kind: str, in_shape, outputs, cfg: RecurrentConfig) -> SteeringModel:
    extra = int(cfg.own_command)

    def rnn(dim: int, extra_dim: int = extra) -> RecurrentHead:
        return RecurrentHead(kind, dim, cfg.hidden, cfg.layers, len(outputs), cfg.dropout, cfg.skip, extra_dim)

    if cfg.motion_frames > 1 or cfg.shift_bands > 0:
        head = MotionHead(in_shape, cfg.motion_frames, cfg.feature_dim, cfg.dropout, rnn, cfg.shift_bands,
                          cfg.max_shift_px, extra, cfg.motion_dropout)
        return _model(Identity(), head, f"cnn_{kind}", in_shape, outputs, cfg.own_command, cfg)
    if cfg.motion_per_distance or cfg.motion_per_second:
        which = "motion_per_distance" if cfg.motion_per_distance else "motion_per_second"
        raise ConfigError(f"{which} needs motion to scale: motion_frames > 1 or shift_bands > 0")
    return _model(ConvEncoder(in_shape, cfg.feature_dim, cfg.dropout), rnn(cfg.feature_dim), f"cnn_{kind}",
                  in_shape, outputs, cfg.own_command)


@register_model("cnn_lstm", RecurrentConfig, "PilotNet CNN on each frame and its motion, then an LSTM over time")
def cnn_lstm(in_shape, outputs, cfg: RecurrentConfig) -> SteeringModel:
    return _recurrent("lstm", in_shape, outputs, cfg)


@register_model("cnn_gru", RecurrentConfig, "PilotNet CNN on each frame and its motion, then a GRU over time")
def cnn_gru(in_shape, outputs, cfg: RecurrentConfig) -> SteeringModel:
    return _recurrent("gru", in_shape, outputs, cfg)


@register_model("rnn", RecurrentConfig, "PilotNet CNN on each frame and its motion, then a plain tanh RNN (Elman): "
                                      "the recurrence whose gradients vanish through time")
def rnn(in_shape, outputs, cfg: RecurrentConfig) -> SteeringModel:
    return _recurrent("rnn", in_shape, outputs, cfg)


@register_model("conv3d_lstm", Conv3dLSTMConfig,
                "Komanda: causal 3D convolution over the last k frames, then a stateful LSTM (+ speed)")
def conv3d_lstm(in_shape, outputs, cfg: Conv3dLSTMConfig) -> SteeringModel:
    stem = ConvStem(in_shape)
    head = Conv3dLSTMHead(stem.out_shape, cfg.frames, cfg.feature_dim, cfg.hidden, len(outputs), cfg.dropout,
                          cfg.skip, int(cfg.own_command))
    return _model(stem, head, "conv3d_lstm", in_shape, outputs, cfg.own_command)
