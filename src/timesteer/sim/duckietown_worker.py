"""The Duckietown simulator's side of timesteer's `Simulator` interface, run in its own environment.

This file runs under `.venv-duckietown/bin/python` (old numpy, pyglet and gym, which timesteer's own
environment does not have), started by `sim/duckietown.py`. It imports nothing of timesteer: only the
standard library, numpy and gym_duckietown. It reads requests from stdin and answers on stdout, each
message a 4-byte big-endian length and a JSON object; a camera frame follows its JSON header as raw
bytes. Nothing is pickled, so the two sides' numpy versions never meet.

Requests: {"op": "open", "map", "seed", "width", "height", "physics_hz"}, {"op": "step", "steer",
"speed"} (advance one physics step: steer is the yaw command, positive to the right; speed m/s),
{"op": "camera"}; open, step and put_back answer with the state (lane offset, heading error, progress,
speed, wheel command, why out);
{"op": "ahead", "ahead_m"} (the lane law's command at a point ahead), {"op": "put_back"}, {"op": "close"}.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys

os.environ.setdefault("PYGLET_HEADLESS", "true")  # EGL, no X server

# The protocol owns the real stdout; whatever the libraries print (pyglet and Duckietown print to stdout)
# goes to stderr instead, where it cannot corrupt a message.
PROTOCOL_OUT = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr

import logging  # noqa: E402

import numpy as np  # noqa: E402

logging.getLogger("gym-duckietown").setLevel(logging.WARNING)

LANE_GAIN_DIST = 20.0  # the lane law on the point ahead: 20 * offset + 2 * heading error (issue 15's recipe)
LANE_GAIN_ANGLE = 2.0
BRANCH_ALIGNED_COS = 0.5  # a curve runs the car's way when its tangent is within 60 degrees of the heading


def read() -> dict | None:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    return json.loads(sys.stdin.buffer.read(n))


def write(obj: dict, payload: bytes = b"") -> None:
    data = json.dumps(obj).encode()
    PROTOCOL_OUT.write(struct.pack(">I", len(data)) + data)
    if payload:
        PROTOCOL_OUT.write(struct.pack(">I", len(payload)) + payload)
    PROTOCOL_OUT.flush()


class World:
    def __init__(self, map_name: str, seed: int, width: int, height: int, physics_hz: float) -> None:
        import gym_duckietown  # noqa: F401  (before `geometry`, which it patches)
        from gym_duckietown.envs import DuckietownEnv

        self.env = DuckietownEnv(map_name=map_name, seed=seed, camera_width=width, camera_height=height,
                                 domain_rand=False, frame_rate=physics_hz, frame_skip=1, max_steps=10**9,
                                 accept_start_angle_deg=4, full_transparency=True)
        self.env.reset()
        self.half_width_m = float(self.env.road_tile_size) / 4  # the car's centre may wander half a lane
        self.start = (self.env.cur_pos.copy(), float(self.env.cur_angle))
        self.put_back()  # Duckietown starts anywhere on a tile; every drive here starts on its lane's centre
        self.start = (self.env.cur_pos.copy(), float(self.env.cur_angle))
        self.command = 0.0
        self.progress = 0.0
        self.speed = 0.0

    def lane(self, pos, angle):
        """The signed offset from the lane's centre and the heading error, by Duckietown's own choice of lane:
        the curve of the tile whose chord best matches the heading. The expert's lane law uses this as it is."""
        from gym_duckietown.simulator import NotInLane

        try:
            lp = self.env.get_lane_pos2(pos, angle)
            return float(lp.dist), float(lp.angle_rad), True
        except NotInLane:
            return 0.0, 0.0, False

    def lane_of_any_branch(self, pos, angle):
        """`lane`, except that a car within half a lane of any curve of its tile that runs its way (within 60
        degrees of its heading) is in that lane. Duckietown's choice by chord goes wrong at 4-way junctions:
        in a tight right turn it picks a straight lane (its authors say so, gym-duckietown PR #80), and a car
        driving exactly along the turn measured up to 19 cm off a 15-cm half lane. Whether the car is out
        (an intervention) is judged by this; on 3-way tiles both agree for a car on any branch."""
        from gym_duckietown.graphics import bezier_closest, bezier_point, bezier_tangent
        from gym_duckietown.simulator import get_dir_vec

        dist, angle_rad, in_lane = self.lane(pos, angle)
        if not in_lane or abs(dist) <= self.half_width_m:
            return dist, angle_rad, in_lane
        tile = self.env._get_tile(*self.env.get_grid_coords(pos))
        heading = get_dir_vec(angle)
        for cps in tile["curves"]:
            t = bezier_closest(cps, pos)
            point, tangent = bezier_point(cps, t), bezier_tangent(cps, t)
            dot = float(np.clip(np.dot(heading, tangent), -1.0, 1.0))
            if dot < BRANCH_ALIGNED_COS:
                continue
            right = np.cross(tangent, np.array([0.0, 1.0, 0.0]))  # signs as get_lane_pos2 makes them
            offset = float(np.dot(pos - point, right))
            if abs(offset) < abs(dist):
                dist, angle_rad = offset, math.acos(dot) * (-1.0 if np.dot(heading, right) < 0 else 1.0)
        return dist, angle_rad, in_lane

    def step(self, steer: float, speed: float) -> None:
        env = self.env
        # DuckietownEnv's action: [velocity, angle], angle > 0 turns left; timesteer steers right for > 0.
        vel, angle = float(np.clip(speed, 0.0, 1.0)), float(np.clip(-steer, -8.0, 8.0))
        baseline = env.unwrapped.wheel_dist
        omega_r = (vel + 0.5 * angle * baseline) / env.radius
        omega_l = (vel - 0.5 * angle * baseline) / env.radius
        u = np.clip(np.array([omega_l * env.gain / env.k, omega_r * env.gain / env.k]), -env.limit, env.limit)
        before = env.cur_pos.copy()
        env.update_physics(u)
        self.command = steer
        moved = env.cur_pos - before
        _, tangent = env.closest_curve_point(env.cur_pos, env.cur_angle)
        along = float(np.dot(moved, tangent)) if tangent is not None else float(np.linalg.norm(moved))
        self.progress += along
        self.speed = float(np.linalg.norm(moved)) / env.delta_time

    def state(self) -> dict:
        env = self.env
        dist, angle, in_lane = self.lane_of_any_branch(env.cur_pos, env.cur_angle)
        valid = bool(env._valid_pose(env.cur_pos, env.cur_angle))
        return {"offset_m": -dist, "heading_rad": angle, "in_lane": in_lane and valid, "progress_m": self.progress,
                "speed_mps": self.speed, "wheel": self.command, "t_s": float(env.timestamp),
                "why_out": "" if in_lane and valid else self.why_out()}

    def why_out(self) -> str:
        """Why the pose is out: "collision" (the robot's box meets an object's, as `_valid_pose` tests it),
        else "off road" (no lane at the robot's centre, or a wheel off the drivable tiles)."""
        from gym_duckietown import simulator

        env = self.env
        centre = simulator._actual_center(env.cur_pos, env.cur_angle)
        if env._collision(simulator.get_agent_corners(centre, env.cur_angle)):
            return "collision"
        return "off road"

    def ahead(self, ahead_m: float) -> dict:
        """The lane law's steering (timesteer's sign) from the lane position `ahead_m` ahead of the robot."""
        env = self.env
        direction = np.array([math.cos(env.cur_angle), 0.0, -math.sin(env.cur_angle)])
        dist, angle, in_lane = self.lane(env.cur_pos + ahead_m * direction, env.cur_angle)
        return {"steer": -(LANE_GAIN_DIST * dist + LANE_GAIN_ANGLE * angle), "in_lane": in_lane}

    def put_back(self) -> None:
        """On the lane centre a little ahead of the closest point, facing along the lane, at the first pose
        there that is valid: what a safety driver does is drive past what stopped the car (an object in the
        way, a parked robot at an intersection); put back onto it, the car would fail again at once, over
        and over (measured: 18 interventions in 20 s at one spot of regress_4way_adam)."""
        env = self.env
        point, tangent = env.closest_curve_point(env.cur_pos, env.cur_angle)
        if point is None:  # off the road entirely: back where the drive began
            self.place(self.start[0].copy(), self.start[1])
            return
        pos = point
        for _ in range(PUT_BACK_STEPS):
            pos = pos + PUT_BACK_STEP_M * tangent
            p2, t2 = env.closest_curve_point(pos, math.atan2(-tangent[2], tangent[0]))
            if p2 is None:
                break
            pos, tangent = p2, t2
            angle = math.atan2(-tangent[2], tangent[0])
            if env._valid_pose(np.asarray(pos, dtype=float), angle):
                self.place(np.asarray(pos, dtype=float), angle)
                return
        self.place(self.start[0].copy(), self.start[1])  # nowhere valid ahead: where the drive began

    def place(self, pos: np.ndarray, angle: float) -> None:
        """Move the robot, at rest: the pose, and the dynamics model's own state, as `reset` makes it."""
        import geometry
        from gym_duckietown import simulator

        env = self.env
        env.cur_pos, env.cur_angle = pos, angle
        q = env.cartesian_from_weird(pos, angle)
        v0 = geometry.se2_from_linear_angular(np.array([0.0, 0.0]), 0.0)
        env.state = simulator.get_DB18_nominal(delay=0.15).initialize(c0=(q, v0), t0=0)
        self.speed = 0.0

    def camera(self) -> np.ndarray:
        return np.ascontiguousarray(self.env.render_obs(), dtype=np.uint8)


# Where a put-back looks for a valid pose: 5 cm steps along the lane, up to 2 m ahead.
PUT_BACK_STEP_M = 0.05
PUT_BACK_STEPS = 40


def main() -> None:
    world: World | None = None
    while True:
        req = read()
        if req is None or req["op"] == "close":
            break
        try:
            op = req["op"]
            if op == "open":
                world = World(req["map"], int(req["seed"]), int(req["width"]), int(req["height"]),
                              float(req["physics_hz"]))
                write({"ok": True, **world.state(), "half_width_m": world.half_width_m})
            elif world is None:
                write({"ok": False, "error": "no world opened"})
            elif op == "step":
                world.step(float(req["steer"]), float(req["speed"]))
                write({"ok": True, **world.state()})
            elif op == "camera":
                frame = world.camera()
                write({"ok": True, "shape": list(frame.shape)}, frame.tobytes())
            elif op == "ahead":
                write({"ok": True, **world.ahead(float(req["ahead_m"]))})
            elif op == "put_back":
                world.put_back()
                write({"ok": True, **world.state()})
            else:
                write({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:  # the parent turns this into one line naming the simulator
            write({"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"})


if __name__ == "__main__":
    main()
