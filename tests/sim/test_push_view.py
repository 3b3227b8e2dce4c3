"""CarRacing's camera view (`carracing.CAMERA_VIEW`) is where gymnasium really draws the car: a frame moved
by `data.push.move_car` matches the simulator's own picture of the car moved and turned the same way."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("gymnasium.envs.box2d")

import torch

from timesteer.data.manifest import FrameGeometry
from timesteer.data.push import ViewInFrame, move_car
from timesteer.sim.carracing import CAMERA_VIEW, CarRacingSim


def test_a_moved_frame_is_what_the_simulator_draws():
    from gymnasium.envs.box2d import car_dynamics

    sim = CarRacingSim(3)
    try:
        for _ in range(80):  # past the zoom-in
            sim.physics_step(0.0, 10.0)
        frame = sim.camera().copy()
        position, angle = sim.position.copy(), float(sim.car.hull.angle)
        view = ViewInFrame.of(CAMERA_VIEW, FrameGeometry(96, 96, 3, 96, 96))
        x = torch.from_numpy(frame).permute(2, 0, 1).float()[None, None]
        for offset_m, heading_rad in [(0.0, 0.1), (0.0, -0.2), (1.5, 0.0), (-2.0, 0.15)]:
            right = np.array([math.sin(angle + math.pi / 2), -math.cos(angle + math.pi / 2)])  # the car's right
            at = position + offset_m * right
            sim.car.destroy()
            sim.env.car = car_dynamics.Car(sim.env.world, angle - heading_rad, float(at[0]), float(at[1]))
            drawn = sim.camera().astype(np.float64)

            def error(off: float, head: float, drawn: np.ndarray = drawn) -> float:
                moved = move_car(x, torch.tensor([[off]]), torch.tensor([[head]]), view)[0, 0].permute(1, 2, 0)
                return float(np.abs(moved.numpy() - drawn)[4:60, 8:88].mean())  # the road around, not the edges

            right_way = error(offset_m, heading_rad)
            assert right_way < 0.5, (offset_m, heading_rad, right_way)  # of 255: the same picture, resampled
            assert right_way < 0.2 * error(-offset_m, -heading_rad), "the other way round is far off"
            assert right_way < 0.2 * error(0.0, 0.0), "and so is not moving at all"
    finally:
        sim.close()
