"""Duckietown's simulator behind timesteer's `Simulator` interface: a forward dashcam, across a process
boundary.

Duckietown's gym (`duckietown-gym-daffy`, its maps and meshes inside `duckietown-world-daffy`) pins old
numpy, pyglet and gym, so it lives in an environment of its own (`python3 dev.py sim duckietown` makes
`.venv-duckietown`) and runs `duckietown_worker.py` in a child process; this class speaks to it over a
pipe: commands out, frames (uint8 arrays, as raw bytes) and lane geometry back. It renders headless on
the CPU (EGL through pyglet, no X server).

The robot is a differential drive: its "steering" is the yaw command of Duckietown's own car wrapper
(`DuckietownEnv`'s angle, positive to the right here, clipped at 3), its speed command the velocity. The
expert is Duckietown's lane law on the lane position a little ahead of the robot (15 cm, and further
with latency, by the distance the car covers meanwhile): 20 x offset + 2 x heading error. Leaving the lane
(the robot's centre more than half a lane from the centre line of every lane of its tile that runs its
way, off the road, or its box meeting an object's) is an intervention, its cause kept: the robot is put
back on the lane centre facing along it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from timesteer.data.manifest import DashcamView
from timesteer.errors import ConfigError, TimesteerError
from timesteer.sim.interface import LaneState, SimulatorDefaults
from timesteer.sim.registry import SimulatorEntry, register_simulator
from timesteer.sim.tracks import Track

WORKER = Path(__file__).with_name("duckietown_worker.py")
PHYSICS_HZ = 30.0  # one physics step per camera frame at Duckietown's own 30 frames per second
CAMERA_HW = (120, 160)  # small: the CPU renderer draws 160x120 at about 100 frames a second
EXPERT_AHEAD_M = 0.15
CRUISE_MPS = 0.3  # the velocity command the lane law was shown to drive at
# Where gym-duckietown's camera sits (its simulator.py: CAMERA_FLOOR_DIST, CAMERA_FORWARD_DIST of the
# centre of rotation, CAMERA_ANGLE down, CAMERA_FOV_Y through gluPerspective, square pixels) and how fast
# a yaw command of 1 turns the robot once its motors have caught up (0.445 rad/s, measured at any speed;
# tests/sim/test_dashcam_view.py checks both against the simulator), for pushes made in the picture.
CAMERA_VIEW = DashcamView(
    focal_px=CAMERA_HW[0] / 2 / math.tan(math.radians(75.0) / 2), centre_row_px=CAMERA_HW[0] / 2 - 0.5,
    centre_col_px=CAMERA_HW[1] / 2 - 0.5, height_m=0.108, ahead_m=0.066, tilt_down_rad=math.radians(19.15),
    yaw_rate_per_unit=0.445, full_lock=3.0)
# Maps a drive can go on for ever, tried here (straight_road ends: the robot would drive off it). Any
# other map of the installed duckietown-world is accepted too (`available_maps`).
MAPS = ("loop_empty", "small_loop", "small_loop_cw", "zigzag_dists", "4way", "udem1", "regress_4way_adam",
        "loop_obstacles", "loop_pedestrians")


def environment_python() -> Path:
    """The Duckietown environment's Python: TIMESTEER_DUCKIETOWN_PYTHON, else `.venv-duckietown` beside the
    environment timesteer runs in (where `dev.py sim duckietown` makes it)."""
    given = os.environ.get("TIMESTEER_DUCKIETOWN_PYTHON")
    if given:
        return Path(given)
    folder, exe = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    return Path(sys.prefix).parent / ".venv-duckietown" / folder / exe


def available_maps(python: Path) -> list[str]:
    """The maps of the duckietown-world installed in the environment of `python`, sorted; MAPS when its
    map folder cannot be found (an environment laid out differently)."""
    # `python` may be a link into another prefix: look beside the resolved path, then the given one.
    for prefix in (python.resolve().parent.parent, python.parent.parent):
        found = sorted({p.stem for p in prefix.glob("lib/python*/site-packages/duckietown_world/data/gd1/maps/*.yaml")})
        if found:
            return found
    return list(MAPS)


def check_environment() -> Path:
    python = environment_python()
    if not python.is_file():
        raise TimesteerError(f"{python}: the Duckietown simulator's environment is missing; create it with "
                             f"`python3 dev.py sim duckietown` (or point TIMESTEER_DUCKIETOWN_PYTHON at its Python)")
    return python


class DuckietownSim(SimulatorDefaults):
    name = "duckietown"
    physics_dt_s = 1.0 / PHYSICS_HZ
    warmup_s = 0.0
    expert_defaults: ClassVar[dict[str, float]] = {"cruise_mps": CRUISE_MPS, "bend_mps": CRUISE_MPS,
                                                   "lookahead_m": EXPERT_AHEAD_M}
    max_steer_rad = CAMERA_VIEW.full_lock  # the yaw command's clip (no wheel angle on a differential drive)
    wheelbase_m = 0.1  # only for the pure-pursuit expert, which this simulator does not use
    frame_shape = (*CAMERA_HW, 3)
    crop_bottom = 0
    expert_law = "lane_ahead"
    camera_view = CAMERA_VIEW

    def __init__(self, seed: int, map_name: str = "loop_empty") -> None:
        self.seed, self.map_name = seed, map_name
        python = check_environment()
        # The worker's stderr goes to a file nobody has to drain (a pipe left unread would fill and stall
        # the worker); when the worker dies, its last line is what the error says.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env={**os.environ, "PYGLET_HEADLESS": "true"})
        opened = self._ask({"op": "open", "map": map_name, "seed": seed, "width": CAMERA_HW[1],
                            "height": CAMERA_HW[0], "physics_hz": PHYSICS_HZ})
        self.half_width_m = float(opened["half_width_m"])
        self._state = opened

    # ---- the pipe
    def _send(self, req: dict[str, Any]) -> None:
        data = json.dumps(req).encode()
        try:
            self.proc.stdin.write(struct.pack(">I", len(data)) + data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise TimesteerError(f"the Duckietown simulator ({self.map_name}, seed {self.seed}) stopped"
                                 f"{self._last_words()}") from None

    def _read(self, n: int) -> bytes:
        data = self.proc.stdout.read(n)  # type: ignore[union-attr]
        if data is None or len(data) < n:
            raise TimesteerError(f"the Duckietown simulator ({self.map_name}, seed {self.seed}) stopped answering"
                                 f"{self._last_words()}")
        return data

    def _last_words(self) -> str:
        """'; it said: LINE', the last line the dead worker wrote to stderr (a traceback's verdict), or ''."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)  # let it finish writing
        try:
            self._stderr.seek(0)
            lines = [ln.strip() for ln in self._stderr.read()[-8192:].decode(errors="replace").splitlines()]
        except (OSError, ValueError):
            return ""
        last = next((ln for ln in reversed(lines) if ln), "")
        return f"; it said: {last[:300]}" if last else ""

    def _ask(self, req: dict[str, Any]) -> dict[str, Any]:
        self._send(req)
        (n,) = struct.unpack(">I", self._read(4))
        answer = json.loads(self._read(n))
        if not answer.get("ok"):
            raise TimesteerError(f"the Duckietown simulator ({self.map_name}, seed {self.seed}): {answer.get('error')}")
        return answer

    # ---- the interface
    @property
    def t_s(self) -> float:
        return float(self._state["t_s"])

    @property
    def speed_mps(self) -> float:
        return float(self._state["speed_mps"])

    @property
    def wheel_angle_rad(self) -> float:
        return float(self._state["wheel"])

    def physics_step(self, steer_rad: float, target_speed_mps: float) -> None:
        self._state = self._ask({"op": "step", "steer": float(steer_rad), "speed": float(target_speed_mps)})

    def camera(self) -> np.ndarray:
        head = self._ask({"op": "camera"})
        (n,) = struct.unpack(">I", self._read(4))
        return np.frombuffer(self._read(n), dtype=np.uint8).reshape(head["shape"]).copy()

    def lane(self) -> LaneState:
        s = self._state
        offset = float(s["offset_m"]) if s["in_lane"] else 10.0 * self.half_width_m  # off the road: out
        return LaneState(offset, self.half_width_m, float(s["progress_m"]), 1e9, str(s["why_out"]))

    def lane_law(self, ahead_m: float) -> float:
        return float(self._ask({"op": "ahead", "ahead_m": ahead_m})["steer"])

    def point_ahead(self, ahead_m: float) -> tuple[float, float]:
        raise NotImplementedError("the Duckietown expert uses its lane law (lane_law)")

    def bend_ahead(self, ahead_m: float) -> float:
        return 0.0  # one speed everywhere: Duckietown's roads are slow

    def put_back(self) -> None:
        self._state = self._ask({"op": "put_back"})

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"op": "close"})
                self.proc.wait(timeout=10)
            except (TimesteerError, subprocess.TimeoutExpired):
                self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


def _tracks(seeds: list[int], maps: list[str] | None) -> list[Track]:
    """A track per map and seed; the maps checked against the installed simulator's (which needs its
    environment: a missing one is one line here, before anything is written or started)."""
    known = available_maps(check_environment())
    maps = maps or ["loop_empty"]
    unknown = [m for m in maps if m not in known]
    if unknown:
        raise ConfigError(f"--maps: unknown Duckietown map {unknown[0]!r}; the installed simulator has "
                          f"{len(known)} maps; loops tried with timesteer: {', '.join(MAPS)}")
    return [Track("duckietown", s, m) for m in maps for s in seeds]


register_simulator(SimulatorEntry(
    name="duckietown", make=DuckietownSim, frame_skip=1, unit="normalized", to_rad=None,
    note="Duckietown yaw command (DuckietownEnv's angle, sign flipped: positive steers right), the expert's label; "
         "a differential drive has no wheel angle",
    version=lambda: "duckietown-gym-daffy 6.1.34 (in .venv-duckietown)", tracks=_tracks,
    kind="turn_rate"))
