"""The simulators timesteer drives, by name: one adapter file and one registration each.

A simulator is a class behind the `Simulator` interface (sim/interface.py) plus what the rest of
timesteer must know about it and may not find out by itself: how many physics steps make a frame, the
unit of its steering labels and what they set, how its tracks are named (seeds, or maps and seeds), and
its version for a recording's manifest. The adapter registers that (`register_simulator`), as timm registers models;
`record-sim`, `drive`, DAgger and the command line's `--sim` take everything from here, so a third
simulator means one new file, not edits across the package.

    register_simulator(SimulatorEntry(name="mysim", make=MySim, frame_skip=1, unit="rad", to_rad=1.0,
                                      note="...", version=lambda: "mysim 1.0", kind="wheel_angle"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from timesteer.data.manifest import SteeringKind, SteeringUnit
from timesteer.errors import ConfigError


@dataclass(frozen=True)
class SimulatorEntry:
    name: str
    make: Callable[..., Any]  # the class: make(seed) or, with maps, make(seed, map_name=...)
    frame_skip: int  # physics steps per recorded frame
    unit: SteeringUnit  # the unit of its steering labels in a recording
    to_rad: float | None  # that unit times this is radians of road-wheel angle, when there is such an angle
    note: str  # what its steering means, for the recording's manifest
    version: Callable[[], str]  # what is installed, for the recording's manifest
    # Its tracks (sim/tracks.py's Track, which imports this module) for the given seeds and maps (None:
    # the default); it checks the maps. Default: one track per seed.
    tracks: Callable[[list[int], list[str] | None], list[Any]] | None = None
    # What its steering sets: a wheel angle or a turn rate (a differential drive's yaw command); the
    # models that use time measure their motion against the distance or the time accordingly. None: not said.
    kind: SteeringKind | None = None


_REGISTRY: dict[str, SimulatorEntry] = {}


def register_simulator(entry: SimulatorEntry) -> SimulatorEntry:
    if entry.name in _REGISTRY and _REGISTRY[entry.name] != entry:
        raise ValueError(f"simulator {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def simulator_entry(name: str) -> SimulatorEntry:
    if name not in _REGISTRY:
        raise ConfigError(f"--sim: unknown simulator {name!r}; expected one of {', '.join(simulator_names())}")
    return _REGISTRY[name]


def simulator_names() -> list[str]:
    return sorted(_REGISTRY)
