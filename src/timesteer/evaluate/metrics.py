"""Open-loop steering metrics on plain arrays: error, smoothness, per segment, by steering magnitude.

Everything here takes predictions and human labels in the recording's unit, plus segment ids so that
frame-to-frame changes are never taken across a gap between drives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Road-wheel angle bins (radians): straight below 1 degree, gentle up to 5 degrees, sharp beyond.
BIN_EDGES_RAD = (math.radians(1.0), math.radians(5.0))
# Without a known factor to radians, bins are fractions of the largest human steering in the data.
BIN_EDGES_RELATIVE = (0.05, 0.25)


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - true) ** 2))) if len(true) else math.nan


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true))) if len(true) else math.nan


def p95_abs_error(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.percentile(np.abs(pred - true), 95)) if len(true) else math.nan


def smoothness(values: np.ndarray, segments: np.ndarray) -> float:
    """RMS of the frame-to-frame change, within segments only (lower is smoother)."""
    if len(values) < 2:
        return math.nan
    same = segments[1:] == segments[:-1]
    steps = np.diff(values)[same]
    return float(np.sqrt(np.mean(steps**2))) if len(steps) else math.nan


@dataclass
class Bins:
    names: tuple[str, str, str]
    edges: tuple[float, float]  # in the recording's unit
    basis: str  # how the edges were chosen


def magnitude_bins(true: np.ndarray, to_rad: float | None) -> Bins:
    if to_rad:
        edges = (BIN_EDGES_RAD[0] / to_rad, BIN_EDGES_RAD[1] / to_rad)
        basis = "road-wheel angle: straight < 1 deg <= gentle < 5 deg <= sharp"
    else:
        top = float(np.max(np.abs(true))) if len(true) else 1.0
        edges = (BIN_EDGES_RELATIVE[0] * top, BIN_EDGES_RELATIVE[1] * top)
        basis = "unit has no known factor to radians: straight < 5% of max |steering| <= gentle < 25% <= sharp"
    return Bins(("straight", "gentle", "sharp"), edges, basis)


def binned_rmse(pred: np.ndarray, true: np.ndarray, bins: Bins) -> dict[str, dict[str, float]]:
    mag = np.abs(true)
    masks = [mag < bins.edges[0], (mag >= bins.edges[0]) & (mag < bins.edges[1]), mag >= bins.edges[1]]
    return {name: {"frames": int(m.sum()), "rmse": rmse(pred[m], true[m]) if m.any() else None}
            for name, m in zip(bins.names, masks, strict=True)}


def per_segment(pred: np.ndarray, true: np.ndarray, segments: np.ndarray) -> list[dict[str, float]]:
    rows = []
    for seg in np.unique(segments):
        m = segments == seg
        rows.append({"segment": int(seg), "frames": int(m.sum()), "rmse": rmse(pred[m], true[m]),
                     "mae": mae(pred[m], true[m]), "smoothness_pred": smoothness(pred[m], segments[m]),
                     "smoothness_true": smoothness(true[m], segments[m])})
    return rows


def steering_metrics(pred: np.ndarray, true: np.ndarray, segments: np.ndarray, to_rad: float | None) -> dict:
    """All open-loop figures, JSON-ready (NaN becomes None)."""
    bins = magnitude_bins(true, to_rad)
    out = {
        "frames": len(true),
        "rmse": rmse(pred, true),
        "mae": mae(pred, true),
        "p95_abs_error": p95_abs_error(pred, true),
        "smoothness_pred": smoothness(pred, segments),
        "smoothness_true": smoothness(true, segments),
        "bias": float(np.mean(pred - true)) if len(true) else math.nan,
        "rmse_by_magnitude": binned_rmse(pred, true, bins),
        "magnitude_bins": {"edges": list(bins.edges), "basis": bins.basis},
        "per_segment": per_segment(pred, true, segments),
    }
    if to_rad:
        out["rmse_rad"] = out["rmse"] * to_rad
        out["mae_rad"] = out["mae"] * to_rad
    return _json_ready(out)


# Keyframes (after Wen et al., "Keyframe-Focused Visual Imitation Learning", ICML 2021): the frames where
# the human's steering changed most over the preceding KEYFRAME_WINDOW_S, the top KEYFRAME_FRACTION of
# the evaluated frames. A model that copies its own recent motion scores well on the rest and badly here.
KEYFRAME_WINDOW_S = 0.5
KEYFRAME_FRACTION = 0.1


def previous_labels(steering: np.ndarray, segment_starts: np.ndarray, idx: np.ndarray,
                    lag_frames: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The copycat floor: for each frame index in `idx`, the human's label `lag_frames` earlier, and a
    mask of the frames that have one in their own segment (`segment_starts[i]`: the first frame of i's
    segment). A copycat answers with what was done a moment ago; `lag_frames` is the model's latency
    plus one frame."""
    earlier = idx - lag_frames
    has = earlier >= segment_starts[idx]
    return steering[np.where(has, earlier, idx)], has


def keyframes(steering: np.ndarray, segment_starts: np.ndarray, idx: np.ndarray, fps: float) -> np.ndarray:
    """Mask over `idx` of the keyframes: the KEYFRAME_FRACTION of frames (at least one) whose steering
    changed most over the preceding KEYFRAME_WINDOW_S (within the frame's segment)."""
    if not len(idx):
        return np.zeros(0, dtype=bool)
    window = max(1, round(KEYFRAME_WINDOW_S * fps))
    change = np.abs(steering[idx] - steering[np.maximum(idx - window, segment_starts[idx])])
    count = max(1, round(KEYFRAME_FRACTION * len(idx)))
    order = np.argsort(-change, kind="stable")
    mask = np.zeros(len(idx), dtype=bool)
    mask[order[:count]] = True
    return mask


def floors(pred: np.ndarray, true: np.ndarray, previous: np.ndarray, has_previous: np.ndarray,
           key: np.ndarray, train_mean: float) -> dict:
    """The error of answers that need no model, beside the model's, over all frames and the keyframes:
    zero, the training mean, and the copycat (the label a moment earlier)."""
    out = {
        "zero_rmse": rmse(np.zeros_like(true), true),
        "mean_rmse": rmse(np.full_like(true, train_mean), true),
        "copycat_rmse": rmse(previous[has_previous], true[has_previous]),
        "keyframes": {
            "frames": int(key.sum()),
            "how": f"the {KEYFRAME_FRACTION:.0%} of frames whose human steering changed most over the preceding "
                   f"{KEYFRAME_WINDOW_S:g} s",
            "rmse": rmse(pred[key], true[key]),
            "zero_rmse": rmse(np.zeros_like(true[key]), true[key]),
            "copycat_rmse": rmse(previous[key & has_previous], true[key & has_previous]),
        },
    }
    return _json_ready(out)


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating | np.integer):
        return _json_ready(value.item())
    return value


def figure(value: float | None) -> str:
    """A figure in the tables and pages: four decimals, or '-' where there is none."""
    return "-" if value is None else f"{value:.4f}"
