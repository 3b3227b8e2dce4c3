"""A tiny simulator behind timesteer's `Simulator` interface, for fast exact tests of the drive loop: a
straight road, a kinematic car, and camera frames that say which physics step took them."""

from __future__ import annotations

import math

import numpy as np

from timesteer.sim.interface import LaneState, SimulatorDefaults


class StraightRoad(SimulatorDefaults):
    physics_dt_s = 0.02
    max_steer_rad = 0.4
    wheelbase_m = 3.0
    frame_shape = (8, 8, 3)
    crop_bottom = 0

    def __init__(self, seed: int, half_width_m: float = 2.0, speed_mps: float = 10.0, jog_at_m: float = 1e9,
                 jog_m: float = 0.0) -> None:
        self.seed = seed
        self.jog_at_m, self.jog_m = jog_at_m, jog_m  # the road steps sideways by jog_m (right) at jog_at_m
        self.half_width_m = half_width_m
        self._speed = speed_mps
        self.step_count = 0
        self.x = self.y = self.heading = 0.0  # y: metres to the right of the centre line
        self.wheel = 0.0
        self.steer_log: list[float] = []  # the steering executed at every physics step
        self.put_backs = 0

    @property
    def t_s(self) -> float:
        return self.step_count * self.physics_dt_s

    @property
    def speed_mps(self) -> float:
        return self._speed

    @property
    def wheel_angle_rad(self) -> float:
        return self.wheel

    def physics_step(self, steer_rad: float, target_speed_mps: float) -> None:
        self.steer_log.append(steer_rad)
        self.wheel = float(np.clip(steer_rad, -self.max_steer_rad, self.max_steer_rad))
        self.heading += self._speed * math.tan(self.wheel) / self.wheelbase_m * self.physics_dt_s  # + turns right
        self.x += self._speed * math.cos(self.heading) * self.physics_dt_s
        self.y += self._speed * math.sin(self.heading) * self.physics_dt_s
        self.step_count += 1

    def camera(self) -> np.ndarray:
        """A frame whose first pixels spell the physics step it was taken at."""
        frame = np.zeros(self.frame_shape, dtype=np.uint8)
        frame[0, 0, 0], frame[0, 0, 1] = self.step_count % 256, self.step_count // 256
        return frame

    def centre_m(self, x: float) -> float:
        return self.jog_m if x >= self.jog_at_m else 0.0

    def lane(self) -> LaneState:
        return LaneState(self.y - self.centre_m(self.x), self.half_width_m, self.x, 1000.0)

    def point_ahead(self, ahead_m: float) -> tuple[float, float]:
        # The centre line point ahead, in the car frame (forward, left).
        dx, dy_right = ahead_m, self.centre_m(self.x + ahead_m) - self.y
        c, s = math.cos(self.heading), math.sin(self.heading)
        forward = dx * c + dy_right * s
        right = -dx * s + dy_right * c
        return forward, -right

    def bend_ahead(self, ahead_m: float) -> float:
        return 0.0

    def put_back(self) -> None:
        self.y = self.heading = self.wheel = 0.0
        self.put_backs += 1

    def close(self) -> None:
        pass


def frame_step(frame: np.ndarray) -> int:
    return int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])
