"""gymnasium's CarRacing behind timesteer's `Simulator` interface, headless: the car's pose and speed,
physics steps without rendering, the camera frame, the lane geometry, and putting the car back.

The 96x96 observation ends in a 12-row dashboard that draws the current steering and speed: a model
that saw it would read its label off the picture, so every frame a model sees is cropped above it
(`crop_bottom`). For the same reason the car itself is covered by a fixed block, as a bonnet would be:
CarRacing draws its front wheels at their actual angle, the steering being executed (a disturbance
included), which a camera on a real car does not see. A single-frame model trained on the uncovered car
read the pushes off those few pixels (BENCHMARKS.md): with the car covered, a push shows only in how the
car moves. Steering is in radians of front-wheel angle, positive to the right; the car's steering
joint stops at 0.4 rad. The pedals hold a target speed with a proportional controller, so a driver
(the expert or a model) only steers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from timesteer.data.manifest import TopDownView
from timesteer.sim.centreline import Centreline
from timesteer.sim.interface import LaneState, SimulatorDefaults
from timesteer.sim.registry import SimulatorEntry, register_simulator

# gymnasium's values, written here so that importing this module does not import gymnasium (`compare-drives`
# only does arithmetic on JSON); tests/sim/test_sim.py checks them against gymnasium's own.
FPS = 50  # physics steps per second: car_racing.FPS
OBS_SIZE = (96, 96)  # (car_racing.STATE_H, car_racing.STATE_W)
DASHBOARD_ROWS = 12  # the bottom 5/40 of the observation
MAX_STEER_RAD = 0.4  # the front wheels' joint limit
CAR_SIZE = 0.02  # car_dynamics.SIZE
WHEELBASE_M = (80 + 82) * CAR_SIZE  # wheel positions y = +80 and -82, times the car's SIZE
ZOOM_IN_S = 1.0  # the first second zooms in from far away: nobody steers from those frames
PEDAL_GAIN = 0.08  # throttle per m/s of speed error
# The car sprite, its wheels at full lock included, in the 96x96 observation (the camera follows the car,
# so it never moves after the zoom-in): rows 66-76, columns 46-49 measured, with a margin for the wheels.
CAR_ROWS, CAR_COLS = slice(64, 80), slice(42, 54)
BONNET_RGB = (70, 70, 70)
# gymnasium draws the world into a 1000x800 window, zoomed ZOOM x SCALE = 16.2 pixels per metre, the car at
# (500, 200) from the bottom, forward up; the observation squeezes that window into 96x96. So the car turns
# about column 48.0 and row 72.0 of the observation (pixel-edge coordinates; 47.5 and 71.5 pixel centres),
# at 16.2 x 96/1000 pixels per metre across and 16.2 x 96/800 along. tests/sim/test_push_view.py checks this
# against the simulator's own picture of a turned and moved car.
WINDOW_PX, ZOOM_PX_PER_M = (1000, 800), 2.7 * 6.0
CAMERA_VIEW = TopDownView(
    pivot_row_px=OBS_SIZE[0] * (1 - 200 / WINDOW_PX[1]) - 0.5, pivot_col_px=OBS_SIZE[1] / 2 - 0.5,
    px_per_m_across=ZOOM_PX_PER_M * OBS_SIZE[1] / WINDOW_PX[0],
    px_per_m_along=ZOOM_PX_PER_M * OBS_SIZE[0] / WINDOW_PX[1],
    wheelbase_m=WHEELBASE_M, fixed_px=(CAR_ROWS.start, CAR_ROWS.stop, CAR_COLS.start, CAR_COLS.stop),
    full_lock_rad=MAX_STEER_RAD)


class CarRacingSim(SimulatorDefaults):
    name = "carracing"
    physics_dt_s = 1.0 / FPS
    warmup_s = ZOOM_IN_S
    max_steer_rad = MAX_STEER_RAD
    wheelbase_m = WHEELBASE_M
    frame_shape = (*OBS_SIZE, 3)
    crop_bottom = DASHBOARD_ROWS
    camera_view = CAMERA_VIEW

    def __init__(self, seed: int) -> None:
        from gymnasium.envs.box2d import car_racing  # here: only a simulator needs gymnasium

        self.seed = seed
        self.env = car_racing.CarRacing(render_mode=None, continuous=True)
        self.env.reset(seed=seed)
        self.track = Centreline.from_carracing(self.env.track, car_racing.TRACK_WIDTH)
        self._index, self._s_m, self._offset_m = self.track.locate(self.position)
        self._progress_m = 0.0

    # ---- state
    @property
    def t_s(self) -> float:
        return float(self.env.t)

    @property
    def car(self) -> Any:  # gymnasium's car_dynamics.Car
        return self.env.car

    @property
    def position(self) -> np.ndarray:
        return np.array(self.car.hull.position, dtype=np.float64)

    @property
    def heading(self) -> float:
        """Direction of travel of the car body, in the world's atan2 convention."""
        return float(self.car.hull.angle) + math.pi / 2  # the body's forward axis is its local +y

    @property
    def speed_mps(self) -> float:
        v = self.car.hull.linearVelocity
        return float(math.hypot(v[0], v[1]))

    @property
    def wheel_angle_rad(self) -> float:
        return -float(self.car.wheels[0].joint.angle)  # the joint turns left for positive

    # ---- acting
    def physics_step(self, steer_rad: float, target_speed_mps: float) -> None:
        """One 1/50 s step of the car and the world, without drawing anything."""
        err = target_speed_mps - self.speed_mps
        gas = float(np.clip(PEDAL_GAIN * err, 0.0, 0.6))
        brake = float(np.clip(-PEDAL_GAIN * err, 0.0, 0.8)) if err < -2.0 else 0.0
        car = self.car
        car.steer(-float(np.clip(steer_rad, -1.0, 1.0)))  # CarRacing's steer() turns left for positive
        car.gas(gas)
        car.brake(brake)
        car.step(self.physics_dt_s)
        self.env.world.Step(self.physics_dt_s, 6 * 30, 2 * 30)
        self.env.t += self.physics_dt_s
        self._locate()

    def _locate(self) -> None:
        index, s_new, offset = self.track.locate(self.position)
        length = self.track.length_m
        self._progress_m += (s_new - self._s_m + length / 2) % length - length / 2
        self._index, self._s_m, self._offset_m = index, s_new, offset

    def camera(self) -> np.ndarray:
        """The 96x96 RGB observation with the car covered, dashboard included (crop it with `crop_bottom`)."""
        frame = self.env._render("state_pixels")
        frame[CAR_ROWS, CAR_COLS] = BONNET_RGB
        return frame

    # ---- geometry
    def lane(self) -> LaneState:
        return LaneState(self._offset_m, self.track.half_width_m, self._progress_m, self.track.length_m)

    def point_ahead(self, ahead_m: float) -> tuple[float, float]:
        d = self.track.point_at(self._s_m + ahead_m) - self.position
        h = self.heading
        return (float(d[0] * math.cos(h) + d[1] * math.sin(h)), float(-d[0] * math.sin(h) + d[1] * math.cos(h)))

    def bend_ahead(self, ahead_m: float) -> float:
        return self.track.heading_change(self._s_m, ahead_m)

    def put_back(self) -> None:
        from gymnasium.envs.box2d import car_dynamics

        self.car.destroy()
        self.env.car = car_dynamics.Car(self.env.world, *self.track.pose_at(self._index + 1))
        self._locate()

    def close(self) -> None:
        self.env.close()


def _version() -> str:
    import gymnasium  # here: importing timesteer.sim must not need the simulator

    return f"gymnasium {gymnasium.__version__} CarRacing-v3"


register_simulator(SimulatorEntry(
    name="carracing", make=CarRacingSim, frame_skip=2, unit="rad", to_rad=1.0,
    note="CarRacing front-wheel angle, the expert's label; positive steers right; the joint stops at 0.4 rad",
    version=_version, kind="wheel_angle"))
