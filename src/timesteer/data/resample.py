"""`import --fps F`: keep the frames closest to a steady F frames per second, segment by segment.

A model that looks at frame differences or carries a recurrent state learns what one frame period is;
it should be trained at the rate it will drive at. Resampling only drops frames (a camera slower
than the source); it never invents any, so F above the source's own rate is refused. Each kept frame
keeps its true capture time and its own signals: nothing is interpolated.
"""

from __future__ import annotations

import numpy as np

from timesteer.data.manifest import Segment


def resample_indexes(timestamps_s: np.ndarray, segments: list[Segment], fps: float) -> np.ndarray:
    """Indexes (ascending, no repeats) of the frames nearest to a grid of 1/fps in every segment, the
    grid starting at the segment's first frame."""
    t = np.asarray(timestamps_s, dtype=np.float64)
    keep: list[np.ndarray] = []
    for seg in segments:
        ts = t[seg.start : seg.stop]
        # Grid points up to a quarter period past the last frame (so the last one is not a half-period step).
        slots = int(np.floor((ts[-1] - ts[0]) * fps + 0.25)) + 1
        grid = ts[0] + np.arange(slots) / fps
        right = np.clip(np.searchsorted(ts, grid), 1, len(ts) - 1) if len(ts) > 1 else np.zeros(len(grid), int)
        left = np.maximum(right - 1, 0)
        nearest = np.where(np.abs(ts[left] - grid) <= np.abs(ts[right] - grid), left, right)
        keep.append(np.unique(nearest) + seg.start)
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
