"""`timesteer eval`: a trained run meets a recording.

The model runs through the chosen spans in time order with its state carried from frame to frame
(the way it would drive); nothing is shuffled and no window is re-run. Frames slower than
`min_speed` are dropped from the figures afterwards (as the Udacity challenge did), never from the
sequence the model sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np

from timesteer.config import Speed, validate
from timesteer.data import Recording
from timesteer.data.commands import previous_commands
from timesteer.data.distance import assumes_training_speed, distances_for
from timesteer.data.drives import check_fit, resolve_drives
from timesteer.data.splits import Span, segment_spans
from timesteer.errors import InputError, ModelFailed, TimesteerError
from timesteer.evaluate.metrics import figure, floors, keyframes, previous_labels, steering_metrics
from timesteer.train.predict import predict_spans, span_indexes
from timesteer.train.run import LoadedRun, Which, load_run

MODE = "time-ordered, state carried frame to frame within each segment (as when driving)"


@dataclass
class EvalConfig:
    run: str
    data: str | list[str]  # recordings, directories of recordings, or dataset files (as `train --data`)
    split: Literal["val", "all"] = "val"
    min_speed: Annotated[float | None, Speed] = None
    checkpoint: Which = "best"
    device: str = "auto"

    def __post_init__(self) -> None:
        validate(self)

    @property
    def data_list(self) -> list[str]:
        return [self.data] if isinstance(self.data, str) else list(self.data)


@dataclass
class Evaluation:
    """One run on one recording."""

    run: LoadedRun
    rec: Recording
    spans: list[Span]
    indexes: np.ndarray  # frame index of each kept frame
    pred: np.ndarray  # kept frames only
    true: np.ndarray
    segments: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"run": str(self.run.path), "model": self.run.model.name, "checkpoint": self.run.checkpoint.name,
                "epoch": self.run.epoch + 1, "data": str(self.rec.path), **self.metrics}


@dataclass
class EvaluationSet:
    """One run on several recordings: a part per recording and the total over all their frames (so each
    recording weighs by its frames)."""

    run: LoadedRun
    parts: list[Evaluation]
    metrics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        head = {"run": str(self.run.path), "model": self.run.model.name, "checkpoint": self.run.checkpoint.name,
                "epoch": self.run.epoch + 1}
        if len(self.parts) == 1:
            return self.parts[0].summary()
        return {**head, "data": [str(p.rec.path) for p in self.parts], **self.metrics,
                "recordings": [{"data": str(p.rec.path), **p.metrics} for p in self.parts]}


def check_run_matches(run: LoadedRun, rec: Recording) -> None:
    """A model only makes sense on frames shaped like its training frames, in the same steering unit."""
    g = rec.manifest.frame
    c, h, w = run.model.in_shape
    if (g.channels, g.height, g.width) != (c, h, w):
        raise InputError(rec.path, f"frames are {g.height}x{g.width}x{g.channels} but run {run.path} was trained on "
                                   f"{h}x{w}x{c}; import the recording with --size {h}x{w}")
    if rec.manifest.steering.unit != run.steering_unit:
        raise InputError(rec.path, f"steering unit {rec.manifest.steering.unit!r} differs from run {run.path}'s "
                                   f"{run.steering_unit!r}")


def choose_spans(run: LoadedRun, rec: Recording, split: str) -> list[Span]:
    if split == "all":
        return segment_spans(rec.segments)
    spans = run.val_spans_for(rec)
    if spans is None:
        raise TimesteerError(f"run {run.path} was not trained on {rec.path}, so it has no validation block there; "
                             f"use --split all")
    if not spans:
        raise TimesteerError(f"run {run.path} held out nothing of {rec.path} for validation; use --split all")
    return spans


def evaluate_loaded(run: LoadedRun, rec: Recording, split: str = "val", min_speed: float | None = None,
                    device: str = "cpu") -> Evaluation:
    check_run_matches(run, rec)
    spans = choose_spans(run, rec, split)
    camera = run.data.camera
    frames = rec.camera_frames(camera if any(c.name == camera for c in rec.manifest.cameras) else None)
    # A model that takes the issued command gets the one recorded: open loop, what the driver did.
    pred = predict_spans(run.model, frames, spans, device, commands=previous_commands(rec),
                         distances=distances_for(run.model, rec))[:, 0].astype(np.float64)
    idx = span_indexes(spans)
    bad = np.flatnonzero(~np.isfinite(pred))
    if len(bad):
        raise ModelFailed(f"{run.path}: the model's output is not finite on {len(bad)} of {len(pred)} frames of "
                          f"{rec.path} (first at frame {int(idx[bad[0]])})")
    true = rec.steering[idx]
    seg_of_span = np.concatenate([np.full(b - a, k) for k, (a, b) in enumerate(spans)])
    keep = np.ones(len(idx), dtype=bool)
    if min_speed is not None:
        if not rec.has_signal("speed"):
            raise InputError(rec.path, "--min-speed needs a speed signal, and this recording has none")
        keep = rec.signals["speed"][idx] >= min_speed
        if not keep.any():
            raise InputError(rec.path, f"--min-speed {min_speed:g} leaves no frame to evaluate (the fastest is "
                                       f"{float(rec.signals['speed'][idx].max()):g})")
    ev = Evaluation(run, rec, spans, idx[keep], pred[keep], true[keep], seg_of_span[keep])
    ev.metrics = {
        "split": split, "mode": MODE, "min_speed": min_speed, "unit": rec.manifest.steering.unit,
        "to_rad": rec.manifest.steering.to_rad, "frames_dropped_by_speed": int((~keep).sum()),
        **steering_metrics(ev.pred, ev.true, ev.segments, rec.manifest.steering.to_rad),
        "floors": _floors(ev),
        # A per-distance model on a recording without speed ran at its training's distance per frame.
        "speed_assumed": assumes_training_speed(run.model, rec),
    }
    return ev


def _floor_inputs(ev: Evaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the frames evaluated: the human's previous label, whether it has one in its segment, and
    whether it is a keyframe."""
    starts = segment_starts(ev.rec)
    previous, has = previous_labels(ev.rec.steering, starts, ev.indexes)
    return previous, has, keyframes(ev.rec.steering, starts, ev.indexes, ev.rec.manifest.fps)


def _floors(ev: Evaluation) -> dict[str, Any]:
    """Zero, the training mean and the copycat (the human's previous label) on the frames evaluated."""
    return floors(ev.pred, ev.true, *_floor_inputs(ev), float(ev.run.model.target_mean[0]))


def segment_starts(rec: Recording) -> np.ndarray:
    """(N,) the first frame of each frame's segment."""
    starts = np.zeros(len(rec), dtype=np.int64)
    for seg in rec.segments:
        starts[seg.start : seg.stop] = seg.start
    return starts


def evaluate_set(run: LoadedRun, recs: list[Recording], split: str = "val", min_speed: float | None = None,
                 device: str = "cpu") -> EvaluationSet:
    parts = [evaluate_loaded(run, rec, split, min_speed, device) for rec in recs]
    pred = np.concatenate([p.pred for p in parts])
    true = np.concatenate([p.true for p in parts])
    # Segment ids made distinct across recordings: no frame-to-frame change is taken across drives.
    offsets = np.cumsum([0, *[int(p.segments.max()) + 1 if len(p.segments) else 0 for p in parts]])
    segments = np.concatenate([p.segments + offsets[k] for k, p in enumerate(parts)])
    first = parts[0].metrics
    # The floors over every recording's frames together, as the model's total is.
    previous, has, key = (np.concatenate(column) for column in zip(*(_floor_inputs(p) for p in parts), strict=True))
    total = {"split": split, "mode": MODE, "min_speed": min_speed, "unit": first["unit"], "to_rad": first["to_rad"],
             "frames_dropped_by_speed": sum(p.metrics["frames_dropped_by_speed"] for p in parts),
             **steering_metrics(pred, true, segments, first["to_rad"]),
             "floors": floors(pred, true, previous, has, key, float(run.model.target_mean[0])),
             "speed_assumed": any(p.metrics["speed_assumed"] for p in parts)}
    return EvaluationSet(run, parts, total)


def open_recordings(names: list[str]) -> list[Recording]:
    recs = [Recording.open(e.path) for e in resolve_drives(names)]
    for rec in recs[1:]:
        check_fit(recs[0], rec)
    return recs


def evaluate(cfg: EvalConfig) -> EvaluationSet:
    run = load_run(cfg.run, cfg.checkpoint, cfg.device)
    recs = open_recordings(cfg.data_list)
    return evaluate_set(run, recs, cfg.split, cfg.min_speed, str(run.model.target_mean.device))


# What `eval`, `report` and `compare` say of a per-distance model run on a recording without a speed.
SPEED_ASSUMED = ("none recorded: the model assumed its training's distance per frame (as live without a speed), "
                 "so its motion reads as at the training's speed")


def format_evaluation(evs: EvaluationSet) -> str:
    m = evs.metrics
    unit = m["unit"]
    rad = f"  ({m['rmse_rad']:.4f} rad)" if m.get("rmse_rad") is not None else ""
    ev = evs.parts[0]
    data = str(ev.rec.path) if len(evs.parts) == 1 else f"{len(evs.parts)} recordings"
    lines = [
        f"run        {evs.run.path}  ({evs.run.model.name}, {evs.run.checkpoint.name}, epoch {evs.run.epoch + 1})",
        f"data       {data}  split {m['split']}, {m['frames']} frames"
        + (f" (dropped {m['frames_dropped_by_speed']} below speed {m['min_speed']})" if m["min_speed"] else ""),
        f"mode       {m['mode']}",
        *([f"speed      {SPEED_ASSUMED}"] if m.get("speed_assumed") else []),
        f"RMSE       {m['rmse']:.4f} {unit}{rad}",
        f"MAE        {m['mae']:.4f} {unit}    95th pct |error| {m['p95_abs_error']:.4f}",
        f"smoothness model {figure(m['smoothness_pred'])}  human {figure(m['smoothness_true'])}  "
        f"(RMS change per frame)",
        _floors_line(m["floors"], unit),
        "by magnitude " + "  ".join(f"{k} {v['rmse']:.4f} ({v['frames']})" if v["rmse"] is not None else f"{k} -"
                                    for k, v in m["rmse_by_magnitude"].items()),
    ]
    if len(evs.parts) > 1:
        lines.append(f"{'recording':<40} {'frames':>7} {'RMSE':>8} {'MAE':>8}")
        for p in evs.parts:
            lines.append(f"{str(p.rec.path)[-40:]:<40} {p.metrics['frames']:>7} {p.metrics['rmse']:>8.4f} "
                         f"{p.metrics['mae']:>8.4f}")
        lines.append(f"{'total (frame-weighted)':<40} {m['frames']:>7} {m['rmse']:>8.4f} {m['mae']:>8.4f}")
    elif len(m["per_segment"]) > 1:
        lines.append("segments   " + "  ".join(f"#{s['segment']} {s['rmse']:.4f}" for s in m["per_segment"][:10]))
    return "\n".join(lines)


def _floors_line(f: dict[str, Any], unit: str) -> str:
    k = f["keyframes"]
    return (f"floors     zero {figure(f['zero_rmse'])}  training mean {figure(f['mean_rmse'])}  "
            f"copycat (previous label) {figure(f['copycat_rmse'])} {unit}\n"
            f"keyframes  model {figure(k['rmse'])}  zero {figure(k['zero_rmse'])}  "
            f"copycat {figure(k['copycat_rmse'])}  ({k['frames']} frames: {k['how']})")


