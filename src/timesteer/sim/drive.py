"""`timesteer drive`: a trained model (or the expert) steers CarRacing closed-loop under chosen driving
conditions; we count how often it must be rescued, NVIDIA's way: autonomy = (1 - interventions x 6 s /
elapsed s) x 100, with a 95% interval over tracks.

The model sees each frame through its `Steerer` (same crop and normalisation as training, state carried
frame to frame, stepping on the clock); the pedals follow the speed plan, so only steering is judged.
Conditions (`sim/conditions.py`) are drawn from each track's seed: every driver meets the same events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from timesteer.config import FrameSkip, Laps, Seconds, Seed, Workers, to_dict, validate
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.sim.conditions import Conditions
from timesteer.sim.drivers import EXPERT, model_policy, read_driver, run_simulator
from timesteer.sim.episode import EpisodeConfig, autonomy_pct, run_episode
from timesteer.sim.parallel import parse_seeds, run_parallel
from timesteer.sim.registry import simulator_entry
from timesteer.sim.stats import track_interval
from timesteer.sim.tracks import Track, tracks_for
from timesteer.sim.video import write_drive_video
from timesteer.train.run import RunInfo, Which


@dataclass
class DriveConfig:
    run: str  # a run directory, or "expert"
    seeds: Annotated[list[int], Seed]
    laps: Annotated[float, Laps] = 1.0
    max_seconds: Annotated[float, Seconds] = 150.0
    conditions: Conditions = field(default_factory=Conditions)
    sim: str | None = None  # default: the simulator the run was trained on (the expert: CarRacing)
    maps: list[str] | None = None  # Duckietown maps, each driven with every seed
    video_dir: str | None = None
    checkpoint: Which = "best"
    device: str = "cpu"
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"
    workers: Annotated[int, Workers] = 0
    frame_skip: Annotated[int | None, FrameSkip] = None  # default: the training recording's, else 2
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)


def training_tracks(info: RunInfo) -> tuple[list[str] | None, int | None]:
    """(names of the tracks the run's recordings were made on, their frame_skip), when they can be found."""
    names: set[str] = set()
    skip = None
    for ref in info.data.recordings:
        try:
            details = Recording.open(ref.path).manifest.source.details
        except TimesteerError:
            return None, None
        names |= {str(t) for t in details.get("tracks") or details.get("seeds", [])}
        skip = skip or details.get("frame_skip")
    return sorted(names), skip


def _drive_one(track: Track, cfg: DriveConfig, frame_skip: int) -> dict[str, Any]:
    policy = on_reset = on_command = on_speed = lead_s = None
    if cfg.run != EXPERT:
        policy, on_reset, on_command, on_speed, lead_s = model_policy(cfg.run, cfg.checkpoint, cfg.device,
                                                                      cfg.backend, cfg.conditions.latency_ms)
    keep = cfg.video_dir is not None
    ep = run_episode(track.seed, EpisodeConfig(laps=cfg.laps, max_seconds=cfg.max_seconds, frame_skip=frame_skip,
                                               conditions=cfg.conditions, keep_frames=keep), policy, on_reset,
                     make_sim=track.factory(), track=track.name, on_command=on_command,
                     on_speed=on_speed)
    out = ep.metrics()
    out["steer_lead_s"] = lead_s
    if keep and ep.frames:
        name = "expert" if cfg.run == EXPERT else Path(cfg.run).name
        cls = simulator_entry(track.sim).make
        crop = cls.crop_bottom
        frames = [f[: f.shape[0] - crop] for f in ep.frames]
        video = write_drive_video(Path(cfg.video_dir) / f"{name}-track{track.name.replace(':', '-')}.mp4", frames,
                                  ep.commands_rad, ep.labels_rad, 1.0 / ep.frame_period_s,
                                  cls.max_steer_rad)
        out["video"] = str(video)
    return out


def drive(cfg: DriveConfig) -> dict[str, Any]:
    seeds = parse_seeds(cfg.seeds)
    trained_on, skip = (None, None)
    info = read_driver(cfg.run, cfg.sim)
    sim = cfg.sim or (run_simulator(info) if info is not None else None) or "carracing"
    tracks = tracks_for(sim, seeds, cfg.maps)
    if info is not None:
        trained_on, skip = training_tracks(info)
    frame_skip = cfg.frame_skip or skip or simulator_entry(sim).frame_skip
    results = run_parallel(_drive_one, tracks, cfg.workers, (cfg, frame_skip), f"drive {Path(cfg.run).name}",
                           cfg.progress)
    elapsed = sum(t["elapsed_s"] for t in results)
    interventions = sum(t["interventions"] for t in results)
    overlap = sorted(set(t.name for t in tracks) & set(trained_on or []))
    return {
        "run": cfg.run,
        "conditions": to_dict(cfg.conditions),
        "conditions_text": cfg.conditions.describe(),
        "autonomy_pct": autonomy_pct(interventions, elapsed),
        "interventions": interventions,
        "interventions_by_cause": dict(sum((Counter(t["interventions_by_cause"]) for t in results),
                                           Counter())),
        "laps_completed": sum(t["laps_completed"] for t in results),
        "laps_fraction": round(sum(t["laps_fraction"] for t in results), 3),
        "laps_attempted": cfg.laps * len(seeds),
        "elapsed_s": round(elapsed, 2),
        "mean_offset_m": sum(t["mean_offset_m"] * t["elapsed_s"] for t in results) / max(elapsed, 1e-9),
        "max_offset_m": max(t["max_offset_m"] for t in results),
        "steering_jerk_rms_rad_s3": sum(t["steering_jerk_rms_rad_s3"] * t["elapsed_s"] for t in results)
        / max(elapsed, 1e-9),
        "interval": track_interval(results),
        "seeds": seeds,
        "training_seeds": trained_on,
        "seeds_overlap_training": overlap,
        "frame_skip": frame_skip,
        "sim": sim,
        # The lead the steering output was learned for: a model with lead heads steers with the one nearest
        # the conditions' latency (train/lead_heads.py), one without steers with its plain output (the latency
        # its recording was made under); None for the expert and runs trained before the heads.
        "steer_lead_s": results[0].get("steer_lead_s") if results else None,
        "tracks": results,
    }


def format_drive(result: dict[str, Any]) -> str:
    lead = result.get("steer_lead_s")
    lines = [f"conditions: {result['conditions_text']}"
             + (f"; steering with the output learned for {lead * 1000:.0f} ms of latency" if lead is not None else ""),
             f"{'track':>6} {'autonomy':>9} {'interv.':>7} {'laps':>6} {'seconds':>8} {'mean off':>9} "
             f"{'max off':>8} {'jerk rad/s³':>12}"]
    for t in result["tracks"]:
        lines.append(f"{t['track']:>6} {t['autonomy_pct']:>8.1f}% {t['interventions']:>7} {t['laps_fraction']:>6.2f} "
                     f"{t['elapsed_s']:>8.1f} {t['mean_offset_m']:>8.2f}m {t['max_offset_m']:>7.2f}m "
                     f"{t['steering_jerk_rms_rad_s3']:>12.1f}")
    ci = result["interval"]
    lines.append(f"{'total':>6} {result['autonomy_pct']:>8.1f}% {result['interventions']:>7} "
                 f"{result['laps_fraction']:>6.2f} {result['elapsed_s']:>8.1f} {result['mean_offset_m']:>8.2f}m "
                 f"{result['max_offset_m']:>7.2f}m {result['steering_jerk_rms_rad_s3']:>12.1f}")
    if result.get("interventions_by_cause"):
        causes = sorted(result["interventions_by_cause"].items(), key=lambda kv: -kv[1])
        lines.append("interventions: " + ", ".join(f"{n} {cause}" for cause, n in causes))
    if len(result["tracks"]) > 1:
        lines.append(f"autonomy 95% interval over tracks {ci['autonomy_ci95'][0]:.1f}-{ci['autonomy_ci95'][1]:.1f}%; "
                     f"{ci['interventions_per_1000s']:.1f} interventions per 1,000 s "
                     f"({ci['interventions_per_1000s_ci95'][0]:.1f}-{ci['interventions_per_1000s_ci95'][1]:.1f})")
    if result["seeds_overlap_training"]:
        lines.append(f"WARNING: tracks {result['seeds_overlap_training']} were also used for training: this is not "
                     f"a held-out test")
    elif result["training_seeds"] is None and result["run"] != EXPERT:
        lines.append("note: the training recording's tracks are unknown; cannot confirm the tracks are held out")
    return "\n".join(lines)
