"""What training reads: the recordings, their train/val split, targets, cameras and normalisation.

All recordings of a run (training and validation) share one frame index (`FrameBank`): recording r's
frame i is bank index `offset_r + i`. Spans are ranges of that index, each inside one segment of one
recording, so a window or a carried state never crosses from one drive into another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.data import Recording
from timesteer.data.commands import previous_commands
from timesteer.data.dashcam import DashcamInFrame
from timesteer.data.distance import distances_per_frame, reference_distance
from timesteer.data.drives import DriveEntry, FrameBank, check_fit, resolve_drives
from timesteer.data.manifest import SIGNALS_FILE, DashcamView, Manifest, TopDownView
from timesteer.data.push import PushSource, ViewInFrame
from timesteer.data.splits import Span, segment_spans, span_frames, split_by_time
from timesteer.errors import ConfigError, InputError
from timesteer.train.config import TrainConfig
from timesteer.train.lead_heads import head_name, is_lead_head, recorded_latency_s


@dataclass
class Drive:
    """One recording in a run, with its part in training and validation (spans in its own frame numbers)."""

    rec: Recording
    offset: int  # bank index of its frame 0
    train_spans: list[Span]
    val_spans: list[Span]
    weight: float = 1.0

    def shifted(self, spans: list[Span]) -> list[Span]:
        return [(a + self.offset, b + self.offset) for a, b in spans]


@dataclass
class TrainData:
    drives: list[Drive]
    outputs: tuple[str, ...]
    cameras: list[FrameBank]  # primary first, then left and right when every training recording has them
    targets: np.ndarray  # (N, K) over the whole bank, columns in `outputs` order
    commands: np.ndarray  # (N,) the command in effect at each frame (models built with `own_command`)
    side_offset: float
    camera: str  # the primary camera's name
    pushes: PushSource | None = None  # what push augmentation needs (data/push.py), when it is on
    distances: np.ndarray | None = None  # (N,) distance since the frame before (models built with motion_per_distance)
    # The lead (s) each steering column stands for (train/lead_heads.py): the plain "steering" first (the
    # latency its recordings were made under, plus any label lead), then the lead heads'.
    steer_leads_s: tuple[float, ...] = (0.0,)
    # Per steering column that leads its frame (a label lead, the lead heads), (N,) the frame whose steering is
    # its label, and the steering itself: under time warp a lead is read where the lane is shown it later.
    steer_frames: np.ndarray | None = None  # (steering columns, N); None: no column leads
    steering: np.ndarray | None = None  # (N,) the recorded steering, before any label lead

    @property
    def first(self) -> Recording:
        return self.drives[0].rec

    @property
    def in_shape(self) -> tuple[int, int, int]:
        g = self.first.manifest.frame
        return (g.channels, g.height, g.width)

    @property
    def train_spans(self) -> list[Span]:
        return [s for d in self.drives for s in d.shifted(d.train_spans)]

    @property
    def train_span_weights(self) -> list[float]:
        return [d.weight for d in self.drives for _ in d.train_spans]

    @property
    def val_spans(self) -> list[Span]:
        return [s for d in self.drives for s in d.shifted(d.val_spans)]

    @property
    def val_frames(self) -> FrameBank:
        return self.cameras[0]

    def val_targets(self) -> np.ndarray:
        return self.targets

    def describe(self) -> dict[str, Any]:
        m = self.first.manifest
        return {
            "recordings": [{
                "path": str(d.rec.path.absolute()), "created_at": d.rec.manifest.created_at,
                "frames": d.rec.manifest.frames, "fingerprint": d.rec.fingerprint(), "weight": d.weight,
                "train_spans": [list(s) for s in d.train_spans], "val_spans": [list(s) for s in d.val_spans],
            } for d in self.drives],
            "fps": m.fps,
            "steering": {"unit": m.steering.unit, "to_rad": m.steering.to_rad},
            "frame": {"height": m.frame.height, "width": m.frame.width, "channels": m.frame.channels,
                      "source_height": m.frame.source_height, "source_width": m.frame.source_width,
                      "crop_top": m.frame.crop_top, "crop_bottom": m.frame.crop_bottom},
            "camera": self.camera,
            "cameras_used": len(self.cameras),
            "side_offset": self.side_offset,
            "outputs": list(self.outputs),
            "steer_leads_s": list(self.steer_leads_s),
            "train_frames": span_frames(self.train_spans),
            "val_frames": span_frames(self.val_spans),
        }


def _split(rec: Recording, cfg: TrainConfig, entry: DriveEntry) -> tuple[list[Span], list[Span]]:
    fraction = cfg.val_fraction if entry.val_fraction is None else entry.val_fraction
    try:
        return split_by_time(rec.segments, fraction, cfg.val_split, cfg.val_blocks)
    except ConfigError as exc:
        raise InputError(rec.path, str(exc)) from None


def load_train_data(cfg: TrainConfig, wanted_aux: tuple[str, ...], time_model: bool = False,
                    distances: bool = False, per_second: bool = False) -> TrainData:
    """The drives of `cfg` with their splits, frames and targets. `time_model`: the model sees more than
    one frame, which turns on the default pushes (`augment.push_rate_hz` None) where the recordings allow.
    `distances`: the model divides its motion by the distance per frame (`motion_per_distance`), which
    every recording must then have a speed for; with `per_second` (`motion_per_second`) the frame period."""
    train_entries = resolve_drives(cfg.data_list)
    val_entries = resolve_drives(cfg.val_list) if cfg.val is not None else []
    drives: list[Drive] = []
    offset = 0
    for entry in train_entries:
        rec = Recording.open(entry.path)
        train_spans, val_spans = ([s for s in segment_spans(rec.segments)], []) if val_entries else \
            _split(rec, cfg, entry)
        drives.append(Drive(rec, offset, train_spans, val_spans, entry.weight))
        offset += len(rec)
    for entry in val_entries:
        rec = Recording.open(entry.path)
        same = [d for d in drives if d.rec.path.resolve() == rec.path.resolve()]
        if same:
            raise InputError(rec.path, "is both a training and a validation recording; a separate --val must be "
                                       "another drive (or leave out --val to hold out the end of each recording)")
        drives.append(Drive(rec, offset, [], segment_spans(rec.segments), 0.0))
        offset += len(rec)
    first = drives[0].rec
    for d in drives[1:]:
        check_fit(first, d.rec)
    if not any(d.train_spans for d in drives):
        raise ConfigError("the split leaves no training frames; lower val_fraction")

    heads = tuple(cfg.lead_heads_s or ())
    outputs = ("steering", *[head_name(v) for v in heads],
               *[a for a in wanted_aux if all(d.rec.has_signal(a) for d in drives)])
    primary = first.manifest.camera(cfg.camera)
    for d in drives:
        if d.train_spans and not any(c.name == primary.name for c in d.rec.manifest.cameras):
            raise InputError(d.rec.path, f"has no camera {primary.name!r} (it has "
                                         f"{[c.name for c in d.rec.manifest.cameras]}), unlike {first.path}")

    def frames_of(rec: Recording, camera: str | None) -> np.ndarray:
        names = [c.name for c in rec.manifest.cameras]
        return rec.camera_frames(camera if camera in names else None)

    cameras = [FrameBank([frames_of(d.rec, primary.name) for d in drives])]
    to_rad = first.manifest.steering.to_rad
    side_offset = cfg.side_offset if cfg.side_offset is not None else (
        math.radians(5.0) / to_rad if to_rad else 0.0)
    sides = [{c.side: c.name for c in d.rec.manifest.cameras if c.side in ("left", "right")} for d in drives]
    training_sides = [s for s, d in zip(sides, drives, strict=True) if d.train_spans]
    if primary.side in (None, "center") and all({"left", "right"} <= set(s) for s in training_sides) and \
            side_offset and cfg.augment.side_camera > 0:
        for side in ("left", "right"):
            # A validation-only drive never lends a lane a side camera; its primary frames fill the slot.
            cameras.append(FrameBank([d.rec.camera_frames(s[side]) if d.train_spans else frames_of(d.rec, primary.name)
                                      for d, s in zip(drives, sides, strict=True)]))
    for d in drives:
        for name in outputs:
            if not is_lead_head(name):  # a head reads the steering, checked as "steering"
                _check_target_range(d.rec, name)
    signal = [o if not is_lead_head(o) else "steering" for o in outputs]
    targets = np.concatenate([np.stack([d.rec.signals[name] for name in signal], axis=1) for d in drives])
    fps = first.manifest.fps
    lead = round(cfg.label_lead_s * fps)
    # The recorded steering (column 0 before any lead): what every leading label reads, here and under time warp.
    steering = targets[:, 0].copy() if lead or heads else None
    labelled = lead_index(len(targets), [s for d in drives for s in d.shifted(segment_spans(d.rec.segments))], lead)
    targets = targets[labelled] if lead else targets
    # Each head: the label `lead` after its frame less the latency its recording was made under.
    latency = [recorded_latency_s(d.rec.manifest) for d in drives]
    steer_frames = np.stack([labelled, *[np.concatenate([
        lead_index(len(d.rec), segment_spans(d.rec.segments), round((lead_s - r) * fps)) + d.offset
        for d, r in zip(drives, latency, strict=True)]) for lead_s in heads]]) if lead or heads else None
    for k in range(1, len(heads) + 1):
        targets[:, k] = steering[steer_frames[k]]
    trained = [r for d, r in zip(drives, latency, strict=True) if d.train_spans]  # mixed latencies: their mean
    steer_leads_s = (sum(trained) / len(trained) + cfg.label_lead_s, *heads)
    commands = np.concatenate([previous_commands(d.rec) for d in drives])
    rate = cfg.augment.push_rate_hz
    if rate is None:  # the default: pushes for a model that uses time, where every recording allows them
        pushes = _push_source(drives, primary.name, lead, required=False) if time_model else None
    else:
        pushes = _push_source(drives, primary.name, lead) if rate > 0 else None
    if pushes is not None and heads:  # the corrections each head's labels hold: at its own lead
        # One lead per head for every lane: the first training recording's latency (mixed ones: approximate).
        pushes = replace(pushes, head_lead_frames=tuple(round((v - trained[0]) * fps) for v in heads))
    per_frame = np.concatenate([distances_per_frame(d.rec, per_second) for d in drives]) if distances else None
    return TrainData(drives, outputs, cameras, targets, commands, side_offset, primary.name, pushes, per_frame,
                     steer_leads_s, steer_frames, steering)


def lead_index(n: int, spans: list[Span], lead: int) -> np.ndarray:
    """For each of `n` frames, the frame `lead` later (earlier where negative), held inside its span."""
    index = np.arange(n)
    for a, b in spans:
        index[a:b] = np.clip(np.arange(a, b) + lead, a, b - 1)
    return index


def _push_source(drives: list[Drive], camera: str, lead: int = 0, required: bool = True) -> PushSource | None:
    """Push augmentation moves the car in the picture: every training recording must say where its camera
    sees the car (`record-sim` writes it: a view from above for CarRacing, a dashcam for Duckietown) and
    how fast the car went. Where one does not: an error naming it when pushes were asked for (`required`),
    no pushes when they are only the default."""
    first = drives[0].rec

    def view_of(m: Manifest) -> TopDownView | DashcamView | None:
        return m.view if m.view is not None else m.dashcam

    def cannot(path: Path, why: str) -> None:
        if required:
            raise InputError(path, why)

    for d in drives:
        m = d.rec.manifest
        if not d.train_spans:
            continue
        if view_of(m) is None:
            return cannot(d.rec.path, "push augmentation (push_rate_hz) needs the camera's view of the car "
                                      "(manifest 'view' or 'dashcam'), which this recording does not have; "
                                      "`record-sim` writes it for its simulators")
        if view_of(m) != view_of(first.manifest) or camera != m.cameras[0].name:
            return cannot(d.rec.path, f"its camera's view {view_of(m)} differs from {first.path}'s "
                                      f"{view_of(first.manifest)}; push augmentation needs one view")
        if not d.rec.has_signal("speed"):
            return cannot(d.rec.path, "push augmentation (push_rate_hz) needs the recorded speed (a 'speed' "
                                      "signal), which this recording does not have")
    view = view_of(first.manifest)
    if view is None:  # the first drive is validation only and no training drive was checked against it
        return cannot(first.path, "push augmentation (push_rate_hz) needs the camera's view of the car")
    speeds = np.concatenate([d.rec.signals["speed"] if d.rec.has_signal("speed") else np.zeros(len(d.rec))
                             for d in drives]).astype(np.float64)
    period_s = 1.0 / first.manifest.fps
    if isinstance(view, DashcamView):  # a yaw command: pushes and corrections in the label's own unit
        return PushSource(DashcamInFrame.of(view, first.manifest.frame), speeds, period_s, 1.0, lead)
    to_rad = first.manifest.steering.to_rad
    if not to_rad:
        return cannot(first.path, "push augmentation needs the steering's unit in radians (steering.to_rad)")
    return PushSource(ViewInFrame.of(view, first.manifest.frame), speeds, period_s, to_rad, lead)


# The largest |value| a training target may take. A steering wheel turns a few turns (DeepTesla's wheel
# reaches about 500 degrees) and a car's speed is well under 1,000 m/s; 1e6 leaves three orders of
# magnitude above both, and keeps sums of squares over millions of frames far from float64's limit.
MAX_TARGET_ABS = 1e6


def _check_target_range(rec: Recording, name: str) -> None:
    values = rec.signals[name]
    bad = np.flatnonzero(~(np.abs(values) <= MAX_TARGET_ABS))
    if len(bad):
        raise InputError(rec.path / SIGNALS_FILE, f"{name} {values[bad[0]]:g} is not a value a car's {name} can "
                                                  f"take (expected |{name}| <= {MAX_TARGET_ABS:g})", frame=int(bad[0]))


def normalization(data: TrainData, max_frames: int = 2000) -> dict[str, list[float]]:
    """Per-channel input mean/std (0-255 scale) and target mean/std, over the training spans of every
    training recording (never the validation frames)."""
    idx = np.concatenate([np.arange(a, b) for a, b in data.train_spans])
    sample = idx[np.linspace(0, len(idx) - 1, min(max_frames, len(idx))).astype(int)]
    # Sums in chunks of frames: memory stays small whatever the frame size.
    frames = data.cameras[0]
    total = np.zeros(frames.shape[-1])
    total_sq = np.zeros_like(total)
    for i in range(0, len(sample), 100):
        chunk = frames[sample[i : i + 100]].reshape(-1, total.shape[0]).astype(np.float32)
        total += chunk.sum(axis=0, dtype=np.float64)
        total_sq += (chunk**2).sum(axis=0, dtype=np.float64)
    count = len(sample) * int(np.prod(frames.shape[1:3]))
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    targets = data.targets[idx]
    if not np.isfinite(targets).all():
        raise ConfigError("training targets hold non-finite values")
    norm: dict = {
        "input_mean": mean.tolist(),
        "input_std": std.tolist(),
        "target_mean": targets.mean(axis=0).tolist(),
        "target_std": targets.std(axis=0).tolist(),
    }
    if data.distances is not None:  # the training's typical distance per frame: motion is measured against it
        ref = reference_distance(data.distances[idx])
        if ref <= 0:
            raise ConfigError(f"{data.first.path}: the car never moves in the training frames (speed 0), so "
                              f"motion_per_distance has nothing to measure motion against")
        norm["distance_ref"] = ref
    return norm
