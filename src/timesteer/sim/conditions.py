"""Driving conditions real cars have, drawn from the track's seed so every driver meets the same events.

- `noise`: steering disturbances, pulses added to whatever is executed (gusts, ruts, a nudge): up to
  `noise` x full lock (0.4 rad in CarRacing) for 0.2-0.8 s, starting about 0.6 times a second.
- `latency_ms`: a command takes effect this long after the frame it was computed from (camera, compute
  and actuator delay; real cars have 50-200 ms). Rounded to whole physics steps (20 ms in CarRacing).
- `drop_frames`: the probability that a camera frame is lost; losses come in bursts (a lost frame is
  followed by another with probability `drop_burst`), the long-run fraction staying `drop_frames`.
  A driver then gets the last frame again, with that frame's own timestamp.
- `speed_scale`: the speed planner's set speeds times this: faster driving, less time to react.

Events are a function of the track seed and of time (pulses) or of the frame slot (drops), never of
what the driver did, so two drivers on one track meet exactly the same events, interventions or not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

import numpy as np

from timesteer.config import Range, validate
from timesteer.errors import ConfigError

NOISE_RATE_HZ = 0.6  # how often a disturbance starts, on average
NOISE_FULL_RAD = 0.4  # noise 1.0 pushes up to this by default: CarRacing's full lock (a simulator passes its own)


@dataclass(frozen=True)
class Conditions:
    noise: Annotated[float, Range(0, 100)] = 0.0  # 1.0 pushes up to full lock
    latency_ms: Annotated[float, Range(0, 10_000)] = 0.0  # 10 s: no car drives on older pictures
    drop_frames: Annotated[float, Range(0, 1, open_max=True)] = 0.0
    drop_burst: Annotated[float, Range(0, 1, open_max=True)] = 0.5
    speed_scale: Annotated[float, Range(0, 100, open_min=True)] = 1.0

    def __post_init__(self) -> None:
        validate(self)

    def describe(self) -> str:
        parts = [f"noise {self.noise:g}"] if self.noise else []
        parts += [f"latency {self.latency_ms:g} ms"] if self.latency_ms else []
        parts += [f"{100 * self.drop_frames:g}% frames dropped"] if self.drop_frames else []
        parts += [f"speed x{self.speed_scale:g}"] if self.speed_scale != 1.0 else []
        return ", ".join(parts) or "clean"


# Named sets (README, "Driving conditions"). `hard` was chosen so the expert still drives >= 95%
# (BENCHMARKS.md has what it drives) while a driver that cannot anticipate its own delayed commands
# cannot: 100 ms is 2.5 frames at 25 fps, a typical car's camera-to-wheel delay.
NAMED: dict[str, Conditions] = {
    "clean": Conditions(),
    "noisy": Conditions(noise=0.6),
    "hard": Conditions(noise=0.6, latency_ms=100.0, drop_frames=0.1, speed_scale=1.2),
}


def conditions_from(name: str | None = None, **overrides: float | None) -> Conditions:
    """A named set (default clean) with any explicitly given option replacing its value."""
    if name is not None and name not in NAMED:
        raise ConfigError(f"conditions: unknown set {name!r}; expected one of {', '.join(NAMED)}")
    base = NAMED[name or "clean"]
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **given) if given else base


@dataclass
class Pulse:
    start_s: float
    duration_s: float
    steer_rad: float


class Events:
    """The disturbances and frame losses of one track, drawn once from its seed."""

    def __init__(self, seed: int, conditions: Conditions, horizon_s: float, frame_period_s: float,
                 full_scale: float = NOISE_FULL_RAD) -> None:
        self.conditions = conditions
        self.pulses: list[Pulse] = []
        rng = np.random.default_rng([seed, 7])
        if conditions.noise > 0:
            t = float(rng.exponential(1 / NOISE_RATE_HZ))
            while t < horizon_s:
                duration = float(rng.uniform(0.2, 0.8))
                size = float(rng.choice([-1, 1]) * rng.uniform(0.4, 1.0) * conditions.noise * full_scale)
                self.pulses.append(Pulse(t, duration, size))
                t += duration + float(rng.exponential(1 / NOISE_RATE_HZ))
        slots = int(np.ceil(horizon_s / frame_period_s)) + 2
        self.dropped = self._drops(np.random.default_rng([seed, 11]), slots)
        self._starts = np.array([p.start_s for p in self.pulses])

    def _drops(self, rng: np.random.Generator, slots: int) -> np.ndarray:
        """A two-state chain: after a loss the next frame is lost with probability `drop_burst`; after a
        delivered frame with the probability that keeps the long-run loss fraction at `drop_frames`."""
        p, burst = self.conditions.drop_frames, self.conditions.drop_burst
        dropped = np.zeros(slots, dtype=bool)
        if p <= 0:
            return dropped
        start = min(1.0, p * (1 - burst) / (1 - p))  # stationary fraction p
        u = rng.random(slots)
        for k in range(1, slots):  # slot 0 (the first frame) always arrives
            dropped[k] = u[k] < (burst if dropped[k - 1] else start)
        return dropped

    def disturbance(self, t_s: float) -> float:
        """Steering added at time t (seconds since the drive began)."""
        if not self.pulses:
            return 0.0
        i = int(np.searchsorted(self._starts, t_s, side="right")) - 1
        if i >= 0 and t_s < self.pulses[i].start_s + self.pulses[i].duration_s:
            return self.pulses[i].steer_rad
        return 0.0

    def frame_lost(self, slot: int) -> bool:
        return bool(self.dropped[slot]) if 0 <= slot < len(self.dropped) else False
