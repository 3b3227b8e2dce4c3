"""gymnasium's CarRacing, headless, with what timesteer needs on top: the car's pose and speed, physics
steps without rendering, observations with the dashboard cropped away, and putting the car back.

The 96x96 observation ends in a 12-row dashboard that draws the current steering and speed: a model
that saw it would read its label off the picture, so every frame a model sees is cropped above it.
Steering is in radians of front-wheel angle, positive to the right; the car's steering joint stops
at 0.4 rad.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium.envs.box2d import car_dynamics, car_racing

from timesteer.sim.track import Track

FPS = car_racing.FPS  # physics steps per second (50)
OBS_SIZE = (car_racing.STATE_H, car_racing.STATE_W)  # (96, 96)
DASHBOARD_ROWS = 12  # the bottom 5/40 of the observation
MAX_STEER_RAD = 0.4  # the front wheels' joint limit
ZOOM_IN_S = 1.0  # the first second zooms in from far away: nobody steers from those frames


class CarRacingSim:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.env = car_racing.CarRacing(render_mode=None, continuous=True)
        self.env.reset(seed=seed)
        self.track = Track.from_carracing(self.env.track, car_racing.TRACK_WIDTH)

    @property
    def t_s(self) -> float:
        return float(self.env.t)

    @property
    def car(self) -> car_dynamics.Car:
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

    def physics_step(self, steer_rad: float, gas: float, brake: float) -> None:
        """One 1/50 s step of the car and the world, without drawing anything."""
        car = self.car
        car.steer(-float(np.clip(steer_rad, -1.0, 1.0)))  # CarRacing's steer() turns left for positive
        car.gas(float(np.clip(gas, 0.0, 1.0)))
        car.brake(float(np.clip(brake, 0.0, 1.0)))
        car.step(1.0 / FPS)
        self.env.world.Step(1.0 / FPS, 6 * 30, 2 * 30)
        self.env.t += 1.0 / FPS

    def observe(self) -> np.ndarray:
        """The raw 96x96 RGB observation, dashboard included (crop it with `DASHBOARD_ROWS`)."""
        return self.env._render("state_pixels")

    def put_back(self, index: int) -> None:
        """An intervention: the car reappears on the centreline at track point `index`, facing along the
        track, at rest."""
        self.car.destroy()
        self.env.car = car_dynamics.Car(self.env.world, *self.track.pose_at(index))

    def close(self) -> None:
        self.env.close()


def crop_dashboard(obs: np.ndarray) -> np.ndarray:
    return obs[: OBS_SIZE[0] - DASHBOARD_ROWS]
