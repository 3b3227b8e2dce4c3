"""How far the car travelled between each frame and the one before: speed x frame period.

A model built with `motion_per_distance` divides the motion it reads between two frames by this, so
that the slide says the road's curvature (yaw per distance, what the steering sets) instead of yaw per
frame, which grows with the speed and the frame period (the copycat's shortcut, issue 29). The unit is
the recording's speed unit x seconds; only ratios to the training's median reach the model, so any
consistent unit works, provided the car's speed is given in the same unit when it drives.

The frame period is the recorded timestamps' difference: a recording whose frames arrive unevenly
(the Udacity simulator's: 67-133 ms at about 11 Hz) moved unevenly far between them. A segment's first
frame, which has no frame before it, takes the recording's median period.

A model built with `motion_per_second` takes the frame period alone (a speed of 1): its steering is a
turn rate, and the recording needs no speed.
"""

from __future__ import annotations

import numpy as np

from timesteer.data.recording import Recording
from timesteer.errors import InputError

SPEED = "speed"


def distances_per_frame(rec: Recording, per_second: bool = False) -> np.ndarray:
    """(N,) float32: the distance travelled since the frame before, each frame (speed x period); with
    `per_second`, the period alone."""
    if per_second:
        return _periods(rec).astype(np.float32)
    if not rec.has_signal(SPEED):
        raise InputError(rec.path / "signals.csv", "motion_per_distance needs the recording's speed, and this "
                         "recording has no 'speed' column (train without motion_per_distance, or import the "
                         "speed with the frames)")
    speed = np.asarray(rec.signals[SPEED], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(speed) | (speed < 0))
    if len(bad):
        raise InputError(rec.path / "signals.csv", f"frame {int(bad[0])}: speed {speed[bad[0]]!r}; expected a "
                         f"finite speed >= 0 ({len(bad)} such frames)")
    return (speed * _periods(rec)).astype(np.float32)


def _periods(rec: Recording) -> np.ndarray:
    """(N,) float64 seconds since the frame before; a segment's first frame, or a repeated one, takes the
    recording's median period."""
    t = np.asarray(rec.timestamps_s, dtype=np.float64)
    period = np.zeros(len(t))
    period[1:] = np.diff(t)
    starts = [seg.start for seg in rec.segments if seg.stop > seg.start]
    inside = np.ones(len(t), dtype=bool)
    inside[starts] = False
    if len(t):
        inside[0] = False
    typical = float(np.median(period[inside])) if inside.any() else 0.0
    # A segment's first frame, or time standing still (a repeated frame): the recording's usual period.
    return np.where(inside & (period > 0), period, typical)


def distances_for(model: object, rec: Recording) -> np.ndarray | None:
    """The recording's distances per frame when `model` was built with `motion_per_distance` (or periods,
    with `motion_per_second`), else None. None too for a per-distance model and a recording without a
    speed (`assumes_training_speed`): the model then assumes its training's distance per frame, as it
    does live when nobody tells it the speed. Training refuses such a recording instead."""
    if not getattr(model, "distance_input", False) or assumes_training_speed(model, rec):
        return None
    return distances_per_frame(rec, bool(getattr(model, "distance_per_second", False)))


def assumes_training_speed(model: object, rec: Recording) -> bool:
    """Whether `model` measures motion per distance and `rec` records no speed to measure it with."""
    per_distance = getattr(model, "distance_input", False) and not getattr(model, "distance_per_second", False)
    return bool(per_distance) and not rec.has_signal(SPEED)


def reference_distance(distances: np.ndarray) -> float:
    """The training's typical distance per frame (its median over frames that moved), or 0 when none did."""
    moving = distances[distances > 0]
    return float(np.median(moving)) if len(moving) else 0.0
