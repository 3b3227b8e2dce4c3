"""The expert driver: pure pursuit on the simulator's own centreline, and the speed controller that
both the expert and every learned model use (so that only steering is learned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from timesteer.sim.env import MAX_STEER_RAD, CarRacingSim

WHEELBASE_M = (80 + 82) * 0.02  # CarRacing wheel positions y = +80 and -82, times the car SIZE 0.02


@dataclass
class ExpertConfig:
    lookahead_m: float = 6.0  # pure-pursuit look-ahead at rest
    lookahead_s: float = 0.25  # plus this many seconds of travel
    cruise_mps: float = 30.0  # speed on straights
    bend_mps: float = 16.0  # speed for the sharpest bends
    bend_ahead_m: float = 30.0  # how far ahead a bend slows the car
    gain: float = 0.08  # throttle per m/s of speed error


@dataclass
class Controls:
    steer_rad: float
    gas: float
    brake: float


class SpeedController:
    """Target speed from the bend ahead on the centreline; proportional gas and brake to hold it."""

    def __init__(self, cfg: ExpertConfig | None = None) -> None:
        self.cfg = cfg or ExpertConfig()

    def target_mps(self, sim: CarRacingSim, s_m: float) -> float:
        c = self.cfg
        turn = sim.track.heading_change(s_m, c.bend_ahead_m)  # radians of turning in the next stretch
        sharp = min(1.0, turn / (math.pi / 2))
        return c.cruise_mps - (c.cruise_mps - c.bend_mps) * sharp

    def throttle(self, sim: CarRacingSim, s_m: float) -> tuple[float, float]:
        err = self.target_mps(sim, s_m) - sim.speed_mps
        gas = float(np.clip(self.cfg.gain * err, 0.0, 0.6))
        brake = float(np.clip(-self.cfg.gain * err, 0.0, 0.8)) if err < -2.0 else 0.0
        return gas, brake


class Expert:
    """Pure pursuit: steer the front wheels so the car's arc passes through a point on the centreline
    a little ahead. Returns radians of wheel angle, positive to the right."""

    def __init__(self, cfg: ExpertConfig | None = None) -> None:
        self.cfg = cfg or ExpertConfig()
        self.speed = SpeedController(self.cfg)

    def steer_rad(self, sim: CarRacingSim, s_m: float) -> float:
        ahead = self.cfg.lookahead_m + self.cfg.lookahead_s * sim.speed_mps
        target = sim.track.point_at(s_m + ahead)
        d = target - sim.position
        alpha = math.atan2(d[1], d[0]) - sim.heading  # > 0: target to the left
        alpha = (alpha + math.pi) % (2 * math.pi) - math.pi
        left = math.atan2(2.0 * WHEELBASE_M * math.sin(alpha), max(float(np.hypot(*d)), 1e-3))
        return float(np.clip(-left, -MAX_STEER_RAD, MAX_STEER_RAD))

    def controls(self, sim: CarRacingSim, s_m: float) -> Controls:
        gas, brake = self.speed.throttle(sim, s_m)
        return Controls(self.steer_rad(sim, s_m), gas, brake)
