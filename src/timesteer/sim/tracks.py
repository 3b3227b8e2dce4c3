"""Which simulator, which track: CarRacing's tracks are seeds; Duckietown's are a map and a seed (the seed
picks the start). Everything that drives goes through a `Track`, so record-sim, drive and DAgger work
the same on both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from timesteer.errors import ConfigError
from timesteer.sim.interface import Simulator

# What differs between the simulators, beyond the `Simulator` interface.
SIMULATORS: dict[str, dict[str, Any]] = {
    "carracing": {"frame_skip": 2, "unit": "rad", "to_rad": 1.0,
                  "note": "CarRacing front-wheel angle, the expert's label; positive steers right; the joint stops "
                          "at 0.4 rad"},
    "duckietown": {"frame_skip": 1, "unit": "normalized", "to_rad": None,
                   "note": "Duckietown yaw command (DuckietownEnv's angle, sign flipped: positive steers right), "
                           "the expert's label; a differential drive has no wheel angle"},
}


def simulator_class(name: str) -> type:
    if name == "carracing":
        from timesteer.sim.carracing import CarRacingSim

        return CarRacingSim
    if name == "duckietown":
        from timesteer.sim.duckietown import DuckietownSim

        return DuckietownSim
    raise ConfigError(f"--sim: unknown simulator {name!r}; expected one of {', '.join(SIMULATORS)}")


@dataclass(frozen=True)
class Track:
    sim: str
    seed: int
    map: str | None = None

    @property
    def name(self) -> str:
        return str(self.seed) if self.map is None else f"{self.map}:{self.seed}"

    def factory(self) -> functools.partial[Simulator]:
        cls = simulator_class(self.sim)
        return functools.partial(cls, map_name=self.map) if self.map else functools.partial(cls)


def tracks_for(sim: str, seeds: list[int], maps: list[str] | None = None) -> list[Track]:
    simulator_class(sim)  # an unknown name fails here, in one line
    if sim == "carracing":
        if maps:
            raise ConfigError("--maps: CarRacing has no maps; its tracks are the seeds")
        return [Track(sim, s) for s in seeds]
    from timesteer.sim.duckietown import MAPS, available_maps, check_environment

    # Every command that drives resolves its tracks here first: a missing environment is one line, before
    # anything is written or started.
    known = available_maps(check_environment())
    maps = maps or ["loop_empty"]
    unknown = [m for m in maps if m not in known]
    if unknown:
        raise ConfigError(f"--maps: unknown Duckietown map {unknown[0]!r}; the installed simulator has "
                          f"{len(known)} maps; loops tried with timesteer: {', '.join(MAPS)}")
    return [Track(sim, s, m) for m in maps for s in seeds]
