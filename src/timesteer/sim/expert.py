"""The expert driver: pure pursuit on the simulator's own centre line, aware of its actuator delay; and
the speed plan that both the expert and every learned model drive with (so that only steering is learned).

With latency, a command decided now acts `latency` later, after the commands already on their way. The
expert knows those (it is privileged: it sees the true state and the queue), predicts where the car will
be when its command takes effect, with a kinematic bicycle model, and steers from there. That is what a
good driver of a delayed car does: anticipate. It is also why a model that remembers what it recently
commanded can drive such a car better than one that sees a single frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from timesteer.config import Positive, validate
from timesteer.sim.interface import Simulator


@dataclass
class ExpertConfig:
    lookahead_m: Annotated[float, Positive] = 6.0  # pure-pursuit look-ahead at rest
    lookahead_s: Annotated[float, Positive] = 0.25  # plus this many seconds of travel
    cruise_mps: Annotated[float, Positive] = 30.0  # speed on straights
    bend_mps: Annotated[float, Positive] = 16.0  # speed for the sharpest bends
    bend_ahead_m: Annotated[float, Positive] = 30.0  # how far ahead a bend slows the car

    def __post_init__(self) -> None:
        validate(self, "expert")


class SpeedPlan:
    """Set speed from the bend ahead: `cruise_mps` on straights down to `bend_mps` in the sharpest bends,
    times the conditions' speed scale."""

    def __init__(self, cfg: ExpertConfig | None = None, scale: float = 1.0) -> None:
        self.cfg = cfg or ExpertConfig()
        self.scale = scale

    def target_mps(self, sim: Simulator) -> float:
        c = self.cfg
        sharp = min(1.0, sim.bend_ahead(c.bend_ahead_m) / (math.pi / 2))
        return (c.cruise_mps - (c.cruise_mps - c.bend_mps) * sharp) * self.scale


def predict_pose(speed_mps: float, wheel_rad: float, commands: Sequence[float], dt_s: float,
                 wheelbase_m: float, steer_rate_rad_s: float = 3.0) -> tuple[float, float, float]:
    """(x forward, y left, heading left) of the car after the physics steps whose steering `commands`
    are already decided, from the car's frame now. The wheels turn towards each command at a limited
    rate, as CarRacing's steering joint does."""
    x = y = heading = 0.0
    wheel = wheel_rad
    for command in commands:
        wheel += float(np.clip(command - wheel, -steer_rate_rad_s * dt_s, steer_rate_rad_s * dt_s))
        heading -= speed_mps * math.tan(wheel) / wheelbase_m * dt_s  # steering right turns the car right
        x += speed_mps * math.cos(heading) * dt_s
        y += speed_mps * math.sin(heading) * dt_s
    return x, y, heading


class Expert:
    """Pure pursuit: steer so the car's arc passes through a point on the centre line a little ahead,
    from where the car will be once the pending commands have acted. Radians, positive to the right."""

    def __init__(self, cfg: ExpertConfig | None = None) -> None:
        self.cfg = cfg or ExpertConfig()

    def steer_rad(self, sim: Simulator, pending: Sequence[float] = (), disturbance_rad: float = 0.0) -> float:
        """`pending`: the steering of each physics step from now until this command acts (empty without
        latency). `disturbance_rad`: the push on the steering now, which the expert (privileged) knows,
        assumes will last, and cancels; a learner can only tell it from how the car moves."""
        if sim.expert_law == "lane_ahead":
            # A differential-drive robot (Duckietown): its lane law on a point ahead, further ahead by the
            # distance the robot covers before this command acts.
            ahead = self.cfg.lookahead_m + sim.speed_mps * len(pending) * sim.physics_dt_s
            wanted = float(np.clip(sim.lane_law(ahead), -sim.max_steer_rad, sim.max_steer_rad))
            return float(np.clip(wanted - disturbance_rad, -sim.max_steer_rad, sim.max_steer_rad))
        speed = sim.speed_mps
        pushed = [c + disturbance_rad for c in pending]
        x0, y0, h0 = predict_pose(speed, sim.wheel_angle_rad, pushed, sim.physics_dt_s, sim.wheelbase_m)
        travelled = math.hypot(x0, y0)
        ahead = self.cfg.lookahead_m + self.cfg.lookahead_s * speed
        tx, ty = sim.point_ahead(ahead + travelled)
        # The target in the predicted car frame.
        dx, dy = tx - x0, ty - y0
        fx = dx * math.cos(h0) + dy * math.sin(h0)
        fy = -dx * math.sin(h0) + dy * math.cos(h0)
        alpha = math.atan2(fy, fx)  # > 0: target to the left
        left = math.atan2(2.0 * sim.wheelbase_m * math.sin(alpha), max(math.hypot(fx, fy), 1e-3))
        wanted = float(np.clip(-left, -sim.max_steer_rad, sim.max_steer_rad))
        return float(np.clip(wanted - disturbance_rad, -sim.max_steer_rad, sim.max_steer_rad))
