"""A closed road's centreline (CarRacing's own): nearest point, signed offset, look-ahead, progress.

Not to be confused with `sim/tracks.py::Track`, which names a simulator, a seed and a map."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Centreline:
    points: np.ndarray  # (N, 2) centreline x, y in metres (Box2D units)
    angles: np.ndarray  # (N,) the car body angle that faces along the track at each point
    half_width_m: float
    cumulative_m: np.ndarray  # (N + 1,) arc length at each point, closing the loop

    @classmethod
    def from_carracing(cls, track: list[tuple[float, float, float, float]], half_width_m: float) -> Centreline:
        arr = np.asarray(track, dtype=np.float64)  # (alpha, beta, x, y)
        points = arr[:, 2:4]
        seg = np.linalg.norm(np.diff(np.vstack([points, points[:1]]), axis=0), axis=1)
        return cls(points, arr[:, 1], half_width_m, np.concatenate([[0.0], np.cumsum(seg)]))

    @property
    def length_m(self) -> float:
        return float(self.cumulative_m[-1])

    def __len__(self) -> int:
        return len(self.points)

    def locate(self, xy: np.ndarray) -> tuple[int, float, float]:
        """(segment index, arc position in metres, signed lateral offset in metres: + is right of the
        direction of travel) of the point `xy`, by projection onto the nearest centreline segment."""
        n = len(self.points)
        i = int(np.argmin(np.sum((self.points - xy) ** 2, axis=1)))
        best = None
        for a in ((i - 1) % n, i):
            p, q = self.points[a], self.points[(a + 1) % n]
            d = q - p
            length2 = float(d @ d) or 1e-9
            u = float(np.clip((xy - p) @ d / length2, 0.0, 1.0))
            foot = p + u * d
            dist = float(np.linalg.norm(xy - foot))
            if best is None or dist < best[0]:
                cross = d[0] * (xy[1] - p[1]) - d[1] * (xy[0] - p[0])  # > 0: left of travel
                best = (dist, a, u, -math.copysign(dist, cross) if cross else 0.0)
        _, a, u, offset = best
        s = self.cumulative_m[a] + u * (self.cumulative_m[a + 1] - self.cumulative_m[a])
        return a, float(s), float(offset)

    def point_at(self, s_m: float) -> np.ndarray:
        """Centreline point at arc position s (wrapping around the loop)."""
        s = s_m % self.length_m
        a = int(np.searchsorted(self.cumulative_m, s, side="right") - 1)
        a = min(a, len(self.points) - 1)
        span = self.cumulative_m[a + 1] - self.cumulative_m[a]
        u = (s - self.cumulative_m[a]) / span if span > 0 else 0.0
        return self.points[a] + u * (self.points[(a + 1) % len(self.points)] - self.points[a])

    def heading_change(self, s_m: float, ahead_m: float) -> float:
        """Absolute change of travel direction (radians) between s and s + ahead, a bend's sharpness."""
        p0, p1 = self.point_at(s_m), self.point_at(s_m + ahead_m / 2)
        p2 = self.point_at(s_m + ahead_m)
        h1 = math.atan2(*(p1 - p0)[::-1])
        h2 = math.atan2(*(p2 - p1)[::-1])
        return abs((h2 - h1 + math.pi) % (2 * math.pi) - math.pi)

    def pose_at(self, index: int) -> tuple[float, float, float]:
        """(body angle, x, y) that puts a car on the centreline at point `index`, facing along the track."""
        x, y = self.points[index % len(self.points)]
        return float(self.angles[index % len(self.points)]), float(x), float(y)
