"""Segments: contiguous runs of frames, split wherever the time gap exceeds a threshold.

A recurrent model's state is carried inside a segment and reset between segments, and training
windows never cross a segment boundary, so getting the boundaries right matters more than it looks.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from timesteer.data.manifest import Segment


def frame_rate(timestamps_s: np.ndarray, breaks: np.ndarray | None = None) -> float:
    """Frames per second from the median interval, ignoring intervals at `breaks` (segment starts)."""
    dt = np.diff(np.asarray(timestamps_s, dtype=np.float64))
    if breaks is not None and len(dt):
        keep = np.ones(len(dt), dtype=bool)
        keep[breaks[(breaks > 0) & (breaks <= len(dt))] - 1] = False
        dt = dt[keep]
    dt = dt[dt > 0]
    if len(dt) == 0:
        return 0.0
    return float(1.0 / np.median(dt))


def default_gap_threshold_s(timestamps_s: np.ndarray) -> float:
    """Five median frame intervals, and never under half a second (simulators hiccup)."""
    dt = np.diff(np.asarray(timestamps_s, dtype=np.float64))
    dt = dt[dt > 0]
    if len(dt) == 0:
        return 0.5
    return max(0.5, 5.0 * float(np.median(dt)))


def split_segments(
    timestamps_s: np.ndarray,
    gap_threshold_s: float,
    forced_breaks: np.ndarray | None = None,
) -> list[Segment]:
    """Segments of `timestamps_s` split at gaps > `gap_threshold_s` and at `forced_breaks` (frame indexes
    where a new segment must start, e.g. a new donkeycar session or a new simulator episode)."""
    t = np.asarray(timestamps_s, dtype=np.float64)
    n = len(t)
    if n == 0:
        return []
    starts = set(np.flatnonzero(np.diff(t) > gap_threshold_s) + 1)
    if forced_breaks is not None:
        starts |= {int(b) for b in forced_breaks if 0 < int(b) < n}
    bounds = [0, *sorted(int(s) for s in starts), n]
    return [
        Segment(start=a, stop=b, start_time_s=float(t[a]), duration_s=float(t[b - 1] - t[a]) + _period(t, a, b))
        for a, b in pairwise(bounds)
    ]


def _period(t: np.ndarray, a: int, b: int) -> float:
    """One frame's duration inside [a, b), so a segment of N frames lasts N periods, not N-1."""
    if b - a < 2:
        return 0.0
    return float(np.median(np.diff(t[a:b])))


def segment_ids(segments: list[Segment], n: int) -> np.ndarray:
    ids = np.zeros(n, dtype=np.int64)
    for i, seg in enumerate(segments):
        ids[seg.start : seg.stop] = i
    return ids
