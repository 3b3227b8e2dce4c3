"""Poses to probe Duckietown's lane tests with, for the tests and `benchmarks/bench_duckietown_lanes.py`;
not used when driving. Runs in the Duckietown environment, beside `duckietown_worker.py` (imported as
`import duckietown_probe`, the probe scripts' working directory being this folder)."""

from __future__ import annotations

import math

import numpy as np


def poses_along_curves(tile: dict, shift_m: float, per_curve: int = 25):
    """(position, heading) along every curve of a tile, `per_curve` on each, shifted `shift_m` to either side
    of it (once when 0) and facing along it: poses in their lane, to probe a lane test with
    (benchmarks/bench_duckietown_lanes.py and the tests)."""
    from gym_duckietown.graphics import bezier_point, bezier_tangent

    for cps in tile["curves"]:
        for t in np.linspace(0.02, 0.98, per_curve):
            point, tangent = bezier_point(cps, t), bezier_tangent(cps, t)
            right = np.cross(tangent, np.array([0.0, 1.0, 0.0]))
            right = right / np.linalg.norm(right)
            for side in ((1.0,) if shift_m == 0 else (-1.0, 1.0)):
                yield point + side * shift_m * right, math.atan2(-tangent[2], tangent[0])
