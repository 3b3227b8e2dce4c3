"""Duckietown's dashcam view (`duckietown.CAMERA_VIEW`) is where gym-duckietown really puts its camera: a
frame moved by `data.dashcam.move_dashcam` matches the simulator's own picture of the robot moved and
turned the same way, and a yaw command of 1 turns the robot at the view's rate once its motors catch up."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from timesteer.data.dashcam import DashcamInFrame, move_dashcam
from timesteer.data.manifest import FrameGeometry
from timesteer.sim.duckietown import CAMERA_HW, CAMERA_VIEW, WORKER, environment_python

pytestmark = pytest.mark.skipif(not environment_python().is_file(),
                                reason="the Duckietown environment is missing (python3 dev.py sim duckietown)")

MOVES = [(0.03, 0.0), (0.0, 0.1), (-0.04, -0.15)]  # metres right, radians turned right

PROBE = r"""
import json, sys
import numpy as np
import duckietown_worker as w
from gym_duckietown.simulator import get_right_vec

moves = json.loads(sys.argv[2])
world = w.World("loop_empty", 1, int(sys.argv[3]), int(sys.argv[4]), 30.0)
env = world.env
pos, angle = env.cur_pos.copy(), float(env.cur_angle)
frames = [world.camera()]
for offset, heading in moves:  # Duckietown's angle grows to the left
    world.place(pos + offset * get_right_vec(angle), angle - heading)
    frames.append(world.camera())
world.place(pos, angle)
for _ in range(30):
    world.step(0.0, 0.3)
before = float(env.cur_angle)
for _ in range(90):  # 3 s at a yaw command of 1 (right), the last second measured
    world.step(1.0, 0.3)
    if _ == 59:
        before = float(env.cur_angle)
rate = -(float(env.cur_angle) - before)  # rad in the last second
np.save(sys.argv[1], np.stack(frames))
json.dump({"rate": rate}, open(sys.argv[1] + ".json", "w"))
"""


def test_a_moved_frame_is_what_the_dashcam_sees_and_the_yaw_rate_is_the_robots(tmp_path):
    out = tmp_path / "frames.npy"
    done = subprocess.run([str(environment_python()), "-c", PROBE, str(out), json.dumps(MOVES), str(CAMERA_HW[1]),
                           str(CAMERA_HW[0])], timeout=180, cwd=WORKER.parent,
                          env={**os.environ, "PYGLET_HEADLESS": "true"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    frames = np.load(out).astype(np.float64)
    h, w = CAMERA_HW
    view = DashcamInFrame.of(CAMERA_VIEW, FrameGeometry(h, w, 3, h, w))
    x = torch.from_numpy(frames[0]).permute(2, 0, 1).float()[None, None]
    for (offset_m, heading_rad), drawn in zip(MOVES, frames[1:], strict=True):
        def error(off: float, head: float, drawn: np.ndarray = drawn) -> float:
            moved = move_dashcam(x, torch.tensor([[off]]), torch.tensor([[head]]), view)[0, 0].permute(1, 2, 0)
            return float(np.abs(moved.numpy() - drawn)[h // 2:, w // 8:-w // 8].mean())  # the road ahead

        right_way = error(offset_m, heading_rad)
        assert right_way < 6, (offset_m, heading_rad, right_way)  # of 255 (measured 1.3-4.8)
        assert right_way < 0.35 * error(-offset_m, -heading_rad), "the other way round is far off"
        assert right_way < 0.35 * error(0.0, 0.0), "and so is not moving at all"
    rate = json.loads((tmp_path / "frames.npy.json").read_text())["rate"]
    assert rate == pytest.approx(CAMERA_VIEW.yaw_rate_per_unit, rel=0.03)
