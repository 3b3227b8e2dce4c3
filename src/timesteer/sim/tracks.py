"""Which track: a simulator (by its registered name), a seed and, for simulators with maps, a map (the
seed then picks the start). Everything that drives goes through a `Track`, so record-sim, drive and DAgger
work the same on every simulator (sim/registry.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from timesteer.errors import ConfigError
from timesteer.sim.interface import Simulator
from timesteer.sim.registry import simulator_entry


@dataclass(frozen=True)
class Track:
    sim: str
    seed: int
    map: str | None = None

    @property
    def name(self) -> str:
        return str(self.seed) if self.map is None else f"{self.map}:{self.seed}"

    def factory(self) -> functools.partial[Simulator]:
        make = simulator_entry(self.sim).make
        return functools.partial(make, map_name=self.map) if self.map else functools.partial(make)


def tracks_for(sim: str, seeds: list[int], maps: list[str] | None = None) -> list[Track]:
    """The tracks to drive: the simulator's own resolver, or one track per seed for a simulator without
    maps. Every command that drives resolves its tracks here first: a wrong map or a missing environment
    is one line, before anything is written or started."""
    entry = simulator_entry(sim)
    if entry.tracks is not None:
        return entry.tracks(seeds, maps)
    if maps:
        raise ConfigError(f"--maps: {sim} has no maps; its tracks are the seeds")
    return [Track(sim, s) for s in seeds]
