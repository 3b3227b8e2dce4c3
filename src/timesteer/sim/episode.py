"""One drive on one track: the loop shared by recording the expert, closed-loop evaluation and DAgger.

Physics runs in steps (50 Hz in CarRacing); every `frame_skip` steps the camera takes a frame and the
driver decides a steering command (the expert, a model, or a mix of both for DAgger). The command joins
a queue and acts `latency` later; until then the previous one holds. Disturbances are added to what is
executed. The expert's own command for the state is always computed too: it is the label a recording
keeps (for DAgger, the correction the learner should have made).

When the car leaves its lane that is an intervention: the car is put back on the centre line, facing
along the route, the command queue empties, and the driver starts over (a model's state is reset), as
after a takeover. Autonomy, NVIDIA's figure: (1 - interventions x 6 s / elapsed s) x 100.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np

from timesteer.config import Fraction, FrameSkip, Laps, Seconds, Seed, validate
from timesteer.sim.carracing import CarRacingSim
from timesteer.sim.conditions import Conditions, Events
from timesteer.sim.expert import Expert, ExpertConfig, SpeedPlan
from timesteer.sim.interface import Simulator

# A policy gets the frame the driver received (raw, dashboard included: it must crop) and that frame's
# capture time in seconds since the drive began (a lost frame repeats the previous frame and its time);
# it returns radians.
Policy = Callable[[np.ndarray, float], float]
SimFactory = Callable[[int], Simulator]


@dataclass
class EpisodeConfig:
    laps: Annotated[float, Laps] = 1.0
    max_seconds: Annotated[float, Seconds] = 150.0  # of simulated driving
    frame_skip: Annotated[int, FrameSkip] = 2  # physics steps per camera frame (50 Hz / 2 = 25 frames per second)
    conditions: Conditions = field(default_factory=Conditions)
    keep_frames: bool = False  # keep the camera frames (recording, video)
    expert: ExpertConfig | None = None  # None: the simulator's own defaults
    # DAgger: per frame, the expert's command is executed instead of the policy's with this probability.
    expert_share: Annotated[float, Fraction] = 0.0
    mix_seed: Annotated[int, Seed] = 0

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class EpisodeResult:
    seed: int
    track: str = ""  # the track's name: its seed, or map:seed
    elapsed_s: float = 0.0
    interventions: int = 0
    laps_completed: int = 0
    progress_m: float = 0.0
    track_length_m: float = 0.0
    offsets_m: list[float] = field(default_factory=list)  # |distance from the centre line| per physics step
    commands_rad: list[float] = field(default_factory=list)  # decided by the driver, per camera frame
    executed_rad: list[float] = field(default_factory=list)  # acting on the wheels at that frame (with noise)
    labels_rad: list[float] = field(default_factory=list)  # the expert's, per camera frame
    speed_mps: list[float] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)  # capture time of each camera frame
    frames: list[np.ndarray] = field(default_factory=list)  # the camera's frames (not the repeats the driver got)
    dropped: list[bool] = field(default_factory=list)  # the driver got the previous frame instead
    breaks: list[int] = field(default_factory=list)  # frame indexes where an intervention cut the drive
    causes: list[str] = field(default_factory=list)  # why each intervention: "left lane", "collision", ...
    frame_period_s: float = 0.04

    def metrics(self) -> dict[str, float | int]:
        steer = np.asarray(self.commands_rad)
        dt = self.frame_period_s
        rate = np.diff(steer) / dt if len(steer) > 1 else np.zeros(0)
        jerk = np.diff(rate) / dt if len(rate) > 1 else np.zeros(0)
        offsets = np.asarray(self.offsets_m) if self.offsets_m else np.zeros(1)
        return {
            "seed": self.seed,
            "track": self.track or str(self.seed),
            "autonomy_pct": autonomy_pct(self.interventions, self.elapsed_s),
            "interventions": self.interventions,
            "interventions_by_cause": dict(Counter(self.causes)),
            "laps_completed": self.laps_completed,
            "laps_fraction": round(self.progress_m / self.track_length_m, 3) if self.track_length_m else 0.0,
            "distance_m": round(self.progress_m, 1),
            "track_length_m": round(self.track_length_m, 1),
            "elapsed_s": round(self.elapsed_s, 2),
            "mean_offset_m": float(offsets.mean()),
            "max_offset_m": float(offsets.max()),
            "steering_rate_rms_rad_s": float(np.sqrt(np.mean(rate**2))) if len(rate) else 0.0,
            "steering_jerk_rms_rad_s3": float(np.sqrt(np.mean(jerk**2))) if len(jerk) else 0.0,
            "mean_speed_mps": float(np.mean(self.speed_mps)) if self.speed_mps else 0.0,
            "frames_dropped": int(sum(self.dropped)),
        }


def autonomy_pct(interventions: int, elapsed_s: float) -> float:
    """NVIDIA's figure: (1 - interventions * 6 s / elapsed s) * 100, floored at 0."""
    if elapsed_s <= 0:
        return 0.0
    return max(0.0, (1.0 - interventions * 6.0 / elapsed_s) * 100.0)


def latency_steps(latency_ms: float, physics_dt_s: float) -> int:
    return round(latency_ms / 1000.0 / physics_dt_s)


def run_episode(seed: int, cfg: EpisodeConfig, policy: Policy | None = None,
                on_reset: Callable[[], None] | None = None, make_sim: SimFactory = CarRacingSim,
                track: str = "", on_command: Callable[[float], None] | None = None,
                on_speed: Callable[[float], None] | None = None) -> EpisodeResult:
    """Drive track `seed` for `cfg.laps` laps (or `cfg.max_seconds`), steered by `policy` (None: the
    expert) under `cfg.conditions`, with the speed plan on the pedals. `on_command` hears the command
    issued at every frame (the policy's, or the expert's where it took over); `on_speed` the car's speed
    (m/s) when each frame the policy gets was taken."""
    sim = make_sim(seed)
    try:
        result = _drive(sim, seed, cfg, policy, on_reset, on_command, on_speed)
        result.track = track or str(seed)
        return result
    finally:
        sim.close()


def _drive(sim: Simulator, seed: int, cfg: EpisodeConfig, policy: Policy | None,
           on_reset: Callable[[], None] | None, on_command: Callable[[float], None] | None,
           on_speed: Callable[[float], None] | None = None) -> EpisodeResult:
    expert_cfg = cfg.expert or ExpertConfig(**sim.expert_defaults)
    expert = Expert(expert_cfg)
    plan = SpeedPlan(expert_cfg, cfg.conditions.speed_scale)
    dt = sim.physics_dt_s
    period = cfg.frame_skip * dt
    lag = latency_steps(cfg.conditions.latency_ms, dt)
    events = Events(seed, cfg.conditions, cfg.max_seconds + 1.0, period, sim.max_steer_rad)
    mix = np.random.default_rng([seed, 13, cfg.mix_seed])

    # A warm-up (CarRacing's zoom-in second): the expert drives; nobody learns from or is judged on it.
    while sim.t_s < sim.warmup_s:
        sim.physics_step(expert.steer_rad(sim), plan.target_mps(sim))
    start_progress = sim.lane().progress_m
    result = EpisodeResult(seed=seed, track_length_m=sim.lane().route_length_m, frame_period_s=period)
    if on_reset:
        on_reset()
    goal_m = cfg.laps * result.track_length_m
    queue: deque[tuple[int, float]] = deque()  # (physics step it acts at, steering)
    applied = sim.wheel_angle_rad
    last_frame: np.ndarray | None = None
    last_t = 0.0
    step = 0  # physics steps since the start; frames come every frame_skip steps, on a fixed grid
    while sim.lane().progress_m - start_progress < goal_m and step * dt < cfg.max_seconds:
        if step % cfg.frame_skip == 0:
            now = step * dt
            lost = last_frame is not None and events.frame_lost(step // cfg.frame_skip)
            frame = sim.camera()
            if not lost:
                last_frame, last_t = frame, now
                if on_speed is not None:  # what a speedometer read with this frame
                    on_speed(sim.speed_mps)
            label = expert.steer_rad(sim, _pending_steps(queue, applied, step, lag), events.disturbance(now))
            command = label
            if policy is not None:
                # The learner sees every frame, also those where the expert steers: a model that carries
                # state or compares frames must not find frames missing from its history.
                own = float(policy(last_frame, last_t))
                if not (cfg.expert_share > 0 and mix.random() < cfg.expert_share):
                    command = own
            if on_command is not None:  # also when the expert took over: a model that takes its command must know
                on_command(command)
            queue.append((step + lag, command))
        while queue and queue[0][0] <= step:
            applied = queue.popleft()[1]
        if step % cfg.frame_skip == 0:
            result.labels_rad.append(label)
            result.commands_rad.append(command)
            result.executed_rad.append(applied + events.disturbance(now))
            result.speed_mps.append(sim.speed_mps)
            result.times_s.append(now)
            result.dropped.append(lost)
            if cfg.keep_frames:
                result.frames.append(frame.copy())
        sim.physics_step(applied + events.disturbance(step * dt), plan.target_mps(sim))
        step += 1
        lane = sim.lane()
        result.offsets_m.append(abs(lane.offset_m))
        if lane.off_lane:
            result.interventions += 1
            result.causes.append(lane.why_out)
            sim.put_back()
            queue.clear()
            applied = 0.0
            last_frame = None  # the driver starts over from the next frame
            result.breaks.append(len(result.labels_rad))
            if on_reset:
                on_reset()
            # Frames stay on their grid (events are per slot); the next one comes at the next slot.
    result.elapsed_s = step * dt
    result.progress_m = sim.lane().progress_m - start_progress
    result.laps_completed = math.floor(result.progress_m / result.track_length_m + 1e-9)
    return result


def _pending_steps(queue: deque[tuple[int, float]], applied: float, step: int, lag: int) -> list[float]:
    """The steering of each physics step from `step` until a command decided now acts: the one applied
    now until the next queued command's step, and so on."""
    out: list[float] = []
    current = applied
    items = list(queue)
    k = 0
    for s in range(step, step + lag):
        while k < len(items) and items[k][0] <= s:
            current = items[k][1]
            k += 1
        out.append(current)
    return out
