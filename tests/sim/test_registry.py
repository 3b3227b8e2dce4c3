"""A simulator is one adapter and one registration (sim/registry.py): a tiny one registered here is
recorded, trained on and driven with nothing else changed, and the command line offers it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from timesteer.errors import ConfigError
from timesteer.sim import Conditions, DriveConfig, RecordConfig, drive, record_sim
from timesteer.sim.interface import LaneState, SimulatorDefaults
from timesteer.sim.registry import SimulatorEntry, register_simulator, simulator_entry, simulator_names
from timesteer.sim.tracks import tracks_for

RADIUS_M = 25.0


class RingSim(SimulatorDefaults):
    """A car on a circular road, seen from above: a kinematic bicycle, a 24x32 picture of the road."""

    physics_dt_s = 0.05
    max_steer_rad = 0.5
    wheelbase_m = 2.5
    frame_shape = (24, 32, 3)
    crop_bottom = 0

    def __init__(self, seed: int) -> None:
        self.angle = (seed % 12) * math.pi / 6  # where on the ring it starts
        self.offset_m = 0.0  # + right of the centre line (outwards: the ring turns left)
        self.heading_err = 0.0  # heading minus the road's, + to the right
        self.speed, self.wheel, self.t, self.driven_m = 0.0, 0.0, 0.0, 0.0

    @property
    def t_s(self) -> float:
        return self.t

    @property
    def speed_mps(self) -> float:
        return self.speed

    @property
    def wheel_angle_rad(self) -> float:
        return self.wheel

    def physics_step(self, steer_rad: float, target_speed_mps: float) -> None:
        dt = self.physics_dt_s
        self.wheel += float(np.clip(steer_rad - self.wheel, -3 * dt, 3 * dt))
        self.speed += 0.5 * (target_speed_mps - self.speed) * dt * 5
        ds = self.speed * dt
        road_turn = -ds / (RADIUS_M + self.offset_m)  # the road turns left (negative, to the right positive)
        car_turn = ds * math.tan(self.wheel) / self.wheelbase_m
        self.heading_err += car_turn - road_turn
        self.offset_m += ds * math.sin(self.heading_err)
        self.driven_m += ds * math.cos(self.heading_err)
        self.angle += ds / RADIUS_M
        self.t += dt

    def camera(self) -> np.ndarray:
        h, w, _ = self.frame_shape
        frame = np.full((h, w, 3), 40, np.uint8)
        rows = np.arange(h)[:, None]
        # The road's centre line as the car sees it: shifted by the offset, slanted by the heading error.
        centre = w / 2 - self.offset_m * 3 + (h - rows) * math.tan(self.heading_err) * 1.5 - (h - rows) ** 2 * 0.01
        road = np.abs(np.arange(w)[None, :] - centre) < 7
        frame[road] = (120, 120, 120)
        frame[np.abs(np.arange(w)[None, :] - centre) < 0.6] = (230, 230, 60)
        return frame

    def lane(self) -> LaneState:
        return LaneState(offset_m=self.offset_m, half_width_m=2.5, progress_m=self.driven_m,
                         route_length_m=2 * math.pi * RADIUS_M)

    def point_ahead(self, ahead_m: float) -> tuple[float, float]:
        a = ahead_m / RADIUS_M  # the point ahead on the centre line, in the car's frame (forward, left)
        fx, fy = RADIUS_M * math.sin(a), RADIUS_M * (1 - math.cos(a)) + self.offset_m
        c, s = math.cos(self.heading_err), math.sin(self.heading_err)
        return fx * c - fy * s, fx * s + fy * c

    def bend_ahead(self, ahead_m: float) -> float:
        return ahead_m / RADIUS_M

    def put_back(self) -> None:
        self.offset_m = self.heading_err = self.speed = self.wheel = 0.0

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def ring():
    entry = register_simulator(SimulatorEntry(
        name="ring", make=RingSim, frame_skip=2, unit="rad", to_rad=1.0, note="a test ring road's wheel angle",
        version=lambda: "ring 0.1 (tests/sim/test_registry.py)", kind="wheel_angle"))
    return entry


def test_a_registered_simulator_records_trains_and_drives(ring, tmp_path):
    from timesteer.data import Recording
    from timesteer.train import TrainConfig, train

    rec = record_sim(RecordConfig(sim="ring", seeds=[1, 2], out=str(tmp_path / "rec"), laps=0.6,
                                  conditions=Conditions(), workers=1, progress=False))
    r = Recording.open(rec)
    assert r.manifest.source.format == "ring" and r.manifest.source.path == "ring 0.1 (tests/sim/test_registry.py)"
    assert r.manifest.steering.note == "a test ring road's wheel angle" and len(r.segments) == 2
    assert r.manifest.steering.kind == "wheel_angle"  # what the entry says its steering sets
    assert r.frames.shape[1:] == (24, 32, 3) and len(r) > 50
    # The expert held the ring: it turns left all the way (negative steering), and never left the road.
    assert np.median(r.steering) < 0
    assert all(e["interventions"] == 0 for e in r.manifest.source.details["episodes"])
    run = train(TrainConfig(data=str(rec), out=str(tmp_path / "run"), model="pilotnet", epochs=2, batch_frames=32,
                            threads=1, progress=False, tensorboard=False))
    result = drive(DriveConfig(run=str(run.run_dir), seeds=[7], laps=0.1, workers=1, progress=False))
    assert result["sim"] == "ring"  # found from the run's recording, as for the shipped simulators
    assert [t["track"] for t in result["tracks"]] == ["7"] and result["tracks"][0]["elapsed_s"] > 0


def test_the_command_line_offers_what_is_registered(ring):
    from timesteer.cli import build_parser

    assert {"carracing", "duckietown", "ring"} <= set(simulator_names())
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices["drive"]
    assert "ring" in next(a for a in sub._actions if a.dest == "sim").choices


def test_seeds_only_simulators_refuse_maps_and_names_are_checked(ring):
    assert [t.name for t in tracks_for("ring", [3, 4])] == ["3", "4"]
    with pytest.raises(ConfigError, match="ring has no maps"):
        tracks_for("ring", [3], ["a"])
    with pytest.raises(ConfigError, match="unknown simulator 'rings'"):
        simulator_entry("rings")
    with pytest.raises(ValueError, match="already registered"):
        register_simulator(SimulatorEntry(name="ring", make=dict, frame_skip=1, unit="rad", to_rad=1.0, note="",
                                          version=str))
