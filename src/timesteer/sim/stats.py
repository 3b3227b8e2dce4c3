"""Figures that hold up: autonomy and interventions per 1,000 s with 95% intervals over tracks, and a
paired per-track comparison of two drivers on the same tracks (and so the same events).

The unit of resampling is the track: tracks differ far more than seconds within a track do, so a
percentile bootstrap over tracks says how much a figure would move on another set of tracks like these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from timesteer.sim.episode import autonomy_pct

BOOTSTRAP_SAMPLES = 4000


def _pooled(interventions: np.ndarray, elapsed: np.ndarray) -> tuple[float, float]:
    total_s = float(elapsed.sum())
    return autonomy_pct(int(interventions.sum()), total_s), 1000.0 * float(interventions.sum()) / max(total_s, 1e-9)


def track_interval(tracks: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Pooled autonomy and interventions per 1,000 s, each with a 95% percentile-bootstrap interval."""
    n = np.array([t["interventions"] for t in tracks], dtype=np.float64)
    s = np.array([t["elapsed_s"] for t in tracks], dtype=np.float64)
    autonomy, per_ks = _pooled(n, s)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(tracks), size=(BOOTSTRAP_SAMPLES, len(tracks)))
    boot = np.array([_pooled(n[i], s[i]) for i in idx])
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    return {"tracks": len(tracks), "autonomy_pct": autonomy, "autonomy_ci95": [float(lo[0]), float(hi[0])],
            "interventions_per_1000s": per_ks, "interventions_per_1000s_ci95": [float(lo[1]), float(hi[1])]}


def paired(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Driver a minus driver b, track by track: the mean difference of per-track autonomy and of
    interventions per 1,000 s, with 95% bootstrap intervals over tracks; `a_better` when the whole
    autonomy interval lies above zero."""
    def key(t: dict[str, Any]) -> Any:
        return t["track"] if "track" in t else t["seed"]  # not .get(): its default would need a seed too

    by_track = {key(t): t for t in b}
    common = [t for t in a if key(t) in by_track]
    if not common:
        raise ValueError("the two drivers share no track")

    def per_track(t: dict[str, Any]) -> tuple[float, float]:
        return t["autonomy_pct"], 1000.0 * t["interventions"] / max(t["elapsed_s"], 1e-9)

    da = np.array([np.subtract(per_track(t), per_track(by_track[key(t)])) for t in common])  # (tracks, 2)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(common), size=(BOOTSTRAP_SAMPLES, len(common)))
    boot = da[idx].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    mean = da.mean(axis=0)
    return {"tracks": len(common), "autonomy_diff_pct": float(mean[0]), "autonomy_diff_ci95": [float(lo[0]),
                                                                                               float(hi[0])],
            "interventions_per_1000s_diff": float(mean[1]),
            "interventions_per_1000s_diff_ci95": [float(lo[1]), float(hi[1])],
            "a_better": bool(lo[0] > 0), "b_better": bool(hi[0] < 0),
            "tracks_a_better": int((da[:, 0] > 0).sum()), "tracks_b_better": int((da[:, 0] < 0).sum())}
