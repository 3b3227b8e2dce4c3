"""PNG plots of an evaluation: steering over time, error histogram, predicted vs human scatter."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, ever

import matplotlib.pyplot as plt
import numpy as np

from timesteer.evaluate.runner import Evaluation

HUMAN = "#2b8a3e"
MODEL = "#e8590c"


def plot_timeline(ev: Evaluation, path: Path) -> Path:
    t = ev.rec.timestamps_s[ev.indexes]
    fig, ax = plt.subplots(figsize=(12, 3.6), dpi=110)
    # Draw each segment on its own so no line jumps across a gap between drives.
    for seg in np.unique(ev.segments):
        m = ev.segments == seg
        ax.plot(t[m], ev.true[m], color=HUMAN, lw=1.0, label="human" if seg == ev.segments[0] else None)
        ax.plot(t[m], ev.pred[m], color=MODEL, lw=1.2, label="model" if seg == ev.segments[0] else None)
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"steering ({ev.metrics['unit']})")
    m = ev.metrics
    ax.set_title(f"{ev.run.model.name}: steering over time ({m['split']} split, RMSE {m['rmse']:.4f})")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_error_histogram(ev: Evaluation, path: Path) -> Path:
    err = ev.pred - ev.true
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.hist(err, bins=60, color=MODEL, alpha=0.85)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(f"model - human ({ev.metrics['unit']})")
    ax.set_ylabel("frames")
    ax.set_title(f"error: MAE {ev.metrics['mae']:.4f}, 95th pct |error| {ev.metrics['p95_abs_error']:.4f}")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_scatter(ev: Evaluation, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.scatter(ev.true, ev.pred, s=4, alpha=0.4, color=MODEL)
    lo = float(min(ev.true.min(), ev.pred.min()))
    hi = float(max(ev.true.max(), ev.pred.max()))
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="perfect")
    ax.set_xlabel(f"human ({ev.metrics['unit']})")
    ax.set_ylabel(f"model ({ev.metrics['unit']})")
    ax.set_title("predicted vs human")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_influence(influence, fps: float, model_name: str, unit: str, path: Path) -> Path:
    """How much the steering at t moves when frame t-k is replaced, against k in seconds."""
    lag_s = influence.lags / fps
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    ax.plot(lag_s, influence.mean_frame, "o-", color=MODEL, lw=1.4, ms=3, label="replaced by the mean frame")
    ax.plot(lag_s, influence.previous, "s-", color=HUMAN, lw=1.2, ms=3, label="replaced by the frame before it")
    horizon = influence.horizon_frames() / fps
    ax.axvline(horizon, color="0.4", ls="--", lw=0.8, label=f"memory horizon {horizon:.2f} s")
    ax.set_xlabel("lag k (seconds back)")
    ax.set_ylabel(f"mean |change of steering| ({unit})")
    ax.set_title(f"{model_name}: how far back it looks")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_gates(t: np.ndarray, human: np.ndarray, model: np.ndarray, gates: np.ndarray, kind: str, model_name: str,
               path: Path) -> Path:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5), dpi=110, sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    top.plot(t, human, color=HUMAN, lw=1.0, label="human")
    top.plot(t, model, color=MODEL, lw=1.2, label="model")
    top.set_ylabel("steering")
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    top.set_title(f"{model_name}: steering, and how much memory the recurrence keeps")
    bottom.plot(t, gates, color="#1c7ed6", lw=1.0)
    bottom.set_ylabel(f"mean {kind}")
    bottom.set_xlabel("time (s)")
    bottom.set_ylim(0, 1)
    bottom.grid(alpha=0.3)
    return _save(fig, path)


def plot_gradient_through_time(curves: dict[str, np.ndarray], path: Path) -> Path:
    """|dL_t/dh_{t-k}| relative to k = 0, log scale: one line per model."""
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    for name, curve in curves.items():
        rel = np.asarray(curve) / curve[0]
        k = np.arange(len(rel))
        keep = rel > 0
        ax.semilogy(k[keep], rel[keep], "o-", ms=3, lw=1.3, label=name)
    ax.set_xlabel("k (steps back through time)")
    ax.set_ylabel("|dL_t / dh_{t-k}|, relative to k = 0")
    ax.set_title("How far the training gradient reaches back")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
