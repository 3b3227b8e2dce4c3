"""One drive on one track: the loop shared by recording the expert and by closed-loop evaluation.

Every `frame_skip` physics steps the camera takes a frame and the steering is decided (by the expert
or by a model); in between the controls are held, as a camera-paced controller would. The expert's
steering is always computed too: it is the label a recording keeps. When the car's centre leaves the
road, that is an intervention: the car is put back on the centreline, facing along the track, and
driving goes on (a model's state is reset, as after a takeover).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from timesteer.sim.env import FPS, ZOOM_IN_S, CarRacingSim
from timesteer.sim.expert import Expert, ExpertConfig

# A policy gets the raw observation (dashboard included: it must crop) and the sim time; returns radians.
Policy = Callable[[np.ndarray, float], float]


@dataclass
class EpisodeConfig:
    laps: float = 1.0
    max_seconds: float = 150.0  # of simulated driving
    frame_skip: int = 2  # physics steps per camera frame (50 Hz / 2 = 25 frames per second)
    noise: float = 0.0  # steering perturbations, as a fraction of the full 0.4 rad, while recording
    noise_rate_hz: float = 0.6  # how often a perturbation starts, on average
    keep_frames: bool = False  # keep the raw observations (recording, video)
    expert: ExpertConfig = field(default_factory=ExpertConfig)


@dataclass
class EpisodeResult:
    seed: int
    elapsed_s: float = 0.0
    interventions: int = 0
    laps_completed: int = 0
    progress_m: float = 0.0
    track_length_m: float = 0.0
    offsets_m: list[float] = field(default_factory=list)  # |distance from centreline| per physics step
    steering_rad: list[float] = field(default_factory=list)  # executed, per camera frame
    labels_rad: list[float] = field(default_factory=list)  # the expert's, per camera frame
    speed_mps: list[float] = field(default_factory=list)
    throttle: list[float] = field(default_factory=list)
    brake: list[float] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)  # raw 96x96 observations, dashboard included
    breaks: list[int] = field(default_factory=list)  # frame indexes where an intervention cut the drive
    frame_period_s: float = 0.04

    def metrics(self) -> dict[str, float | int]:
        steer = np.asarray(self.steering_rad)
        dt = self.frame_period_s
        rate = np.diff(steer) / dt if len(steer) > 1 else np.zeros(0)
        jerk = np.diff(rate) / dt if len(rate) > 1 else np.zeros(0)
        offsets = np.asarray(self.offsets_m) if self.offsets_m else np.zeros(1)
        return {
            "seed": self.seed,
            "autonomy_pct": autonomy_pct(self.interventions, self.elapsed_s),
            "interventions": self.interventions,
            "laps_completed": self.laps_completed,
            "distance_m": round(self.progress_m, 1),
            "track_length_m": round(self.track_length_m, 1),
            "elapsed_s": round(self.elapsed_s, 2),
            "mean_offset_m": float(offsets.mean()),
            "max_offset_m": float(offsets.max()),
            "steering_rate_rms_rad_s": float(np.sqrt(np.mean(rate**2))) if len(rate) else 0.0,
            "steering_jerk_rms_rad_s2": float(np.sqrt(np.mean(jerk**2))) if len(jerk) else 0.0,
            "mean_speed_mps": float(np.mean(self.speed_mps)) if self.speed_mps else 0.0,
        }


def autonomy_pct(interventions: int, elapsed_s: float) -> float:
    """NVIDIA's figure: (1 - interventions * 6 s / elapsed s) * 100, floored at 0."""
    if elapsed_s <= 0:
        return 0.0
    return max(0.0, (1.0 - interventions * 6.0 / elapsed_s) * 100.0)


class Perturbation:
    """Steering pulses added to what is executed (not to the label): random start, sign, size, length."""

    def __init__(self, size: float, rate_hz: float, rng: np.random.Generator) -> None:
        self.size, self.rate_hz, self.rng = size, rate_hz, rng
        self.value, self.remaining_s = 0.0, 0.0

    def __call__(self, dt: float) -> float:
        if self.size <= 0:
            return 0.0
        if self.remaining_s > 0:
            self.remaining_s -= dt
            return self.value
        if self.rng.random() < self.rate_hz * dt:
            self.remaining_s = float(self.rng.uniform(0.2, 0.8))
            self.value = float(self.rng.choice([-1, 1]) * self.rng.uniform(0.4, 1.0) * self.size * 0.4)
            return self.value
        return 0.0


def run_episode(seed: int, cfg: EpisodeConfig, policy: Policy | None = None,
                on_reset: Callable[[], None] | None = None) -> EpisodeResult:
    """Drive track `seed` for `cfg.laps` laps (or `cfg.max_seconds`), steered by `policy` (None: the
    expert), with the expert's speed controller on the pedals."""
    sim = CarRacingSim(seed)
    expert = Expert(cfg.expert)
    track = sim.track
    result = EpisodeResult(seed=seed, track_length_m=track.length_m, frame_period_s=cfg.frame_skip / FPS)
    noise = Perturbation(cfg.noise, cfg.noise_rate_hz, np.random.default_rng([seed, 7]))
    _, s_m, _ = track.locate(sim.position)
    progress = 0.0

    def advance() -> float:
        nonlocal s_m, progress
        index, s_new, offset = track.locate(sim.position)
        delta = (s_new - s_m + track.length_m / 2) % track.length_m - track.length_m / 2
        progress += delta
        s_m = s_new
        return offset, index

    # The zoom-in second: the expert drives off the line; nobody learns from or is judged on it.
    while sim.t_s < ZOOM_IN_S:
        c = expert.controls(sim, s_m)
        sim.physics_step(c.steer_rad, c.gas, c.brake)
        advance()
    start_t, start_progress = sim.t_s, progress
    if on_reset:
        on_reset()
    goal_m = cfg.laps * track.length_m
    steer = gas = brake = 0.0
    step = 0
    dt_frame = cfg.frame_skip / FPS
    while progress - start_progress < goal_m and sim.t_s - start_t < cfg.max_seconds:
        if step % cfg.frame_skip == 0:
            obs = sim.observe()
            label = expert.steer_rad(sim, s_m)
            steer = label if policy is None else float(policy(obs, sim.t_s - start_t))
            steer += noise(dt_frame)
            gas, brake = expert.speed.throttle(sim, s_m)
            result.labels_rad.append(label)
            result.steering_rad.append(steer)
            result.speed_mps.append(sim.speed_mps)
            result.throttle.append(gas)
            result.brake.append(brake)
            result.times_s.append(sim.t_s - start_t)
            if cfg.keep_frames:
                result.frames.append(obs.copy())
        sim.physics_step(steer, gas, brake)
        step += 1
        offset, index = advance()
        result.offsets_m.append(abs(offset))
        if abs(offset) > track.half_width_m:
            result.interventions += 1
            sim.put_back(index + 1)
            offset, _ = advance()
            result.breaks.append(len(result.labels_rad))
            if on_reset:
                on_reset()
            step = 0  # a fresh frame right away
    result.elapsed_s = sim.t_s - start_t
    result.progress_m = progress - start_progress
    result.laps_completed = math.floor(result.progress_m / track.length_m + 1e-9)
    sim.close()
    return result
