"""`timesteer record-sim`: drive CarRacing tracks and record what the camera saw with the expert's
steering, in the same format as the importers write (frames, `timestamp_s`, `steering`, `speed`, one
segment per episode and per intervention).

By default the expert drives. For DAgger a trained run drives instead (`driver`), the expert taking
over each frame with probability `expert_share`; the label is always the expert's command for the state
the car is in, so the recording shows the learner its own mistakes with their corrections.

Episodes run in parallel processes; each writes its frames to a temporary file inside the recording
being built, and the parent joins them in seed order, so memory stays flat and the result does not
depend on which process finished first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from timesteer.config import Fraction, FrameSkip, Laps, PixelsAcross, Seconds, Seed, Workers, to_dict, validate
from timesteer.data.imaging import FrameShaper
from timesteer.data.manifest import Camera, DashcamView, FrameGeometry, Manifest, Source, Steering, TopDownView
from timesteer.data.segments import frame_rate, segment_ids, split_segments
from timesteer.data.writer import RecordingWriter
from timesteer.errors import ConfigError
from timesteer.sim.conditions import Conditions
from timesteer.sim.drivers import EXPERT, model_policy, read_driver
from timesteer.sim.episode import EpisodeConfig, run_episode
from timesteer.sim.expert import ExpertConfig
from timesteer.sim.parallel import parse_seeds, run_parallel
from timesteer.sim.registry import simulator_entry
from timesteer.sim.tracks import Track, tracks_for

EPISODE_GAP_S = 10.0  # time left between episodes in timestamp_s, so segments never touch


@dataclass
class RecordConfig:
    seeds: Annotated[list[int], Seed]
    out: str
    laps: Annotated[float, Laps] = 1.0
    conditions: Conditions = field(default_factory=Conditions)
    sim: str = "carracing"  # or "duckietown"
    maps: list[str] | None = None  # Duckietown maps (each driven with every seed)
    frame_skip: Annotated[int | None, FrameSkip] = None  # physics steps per frame; default the simulator's
    max_seconds: Annotated[float, Seconds] = 150.0
    size: Annotated[tuple[int, int] | None, PixelsAcross] = None  # working size; default the cropped 84x96 view
    workers: Annotated[int, Workers] = 0  # parallel episodes; 0 = one per CPU
    overwrite: bool = False
    progress: bool = True
    expert: ExpertConfig | None = None  # default: the simulator's own
    driver: str = EXPERT  # who steers: the expert, or a run directory (DAgger)
    expert_share: Annotated[float, Fraction] = 0.0  # with a run driving: frames the expert takes over
    mix_seed: Annotated[int, Seed] = 0
    checkpoint: str = "best"
    store: Literal["npy", "video"] = "npy"  # frames raw, or an all-intra MP4 (data/videostore.py)

    def __post_init__(self) -> None:
        validate(self)


def frame_skip_of(cfg: RecordConfig) -> int:
    return cfg.frame_skip or simulator_entry(cfg.sim).frame_skip


def _episode_to_file(track: Track, cfg: RecordConfig, folder: str) -> dict[str, Any]:
    """Worker: drive one episode, shape its frames, save them; return signals and metrics."""
    policy = on_reset = on_command = on_speed = None
    if cfg.driver != EXPERT:
        policy, on_reset, on_command, on_speed, _ = model_policy(
            cfg.driver, cfg.checkpoint, latency_ms=cfg.conditions.latency_ms)  # type: ignore[arg-type]
    ep = run_episode(track.seed, EpisodeConfig(laps=cfg.laps, max_seconds=cfg.max_seconds,
                                               frame_skip=frame_skip_of(cfg), conditions=cfg.conditions,
                                               keep_frames=True, expert=cfg.expert, expert_share=cfg.expert_share,
                                               mix_seed=cfg.mix_seed),
                     policy, on_reset, make_sim=track.factory(), track=track.name, on_command=on_command,
                     on_speed=on_speed)
    shaper = shaper_for(cfg)
    frames = np.stack([shaper.shape_array(f) for f in ep.frames]) if ep.frames else np.zeros(
        (0, shaper.out_height, shaper.out_width, 3), np.uint8)
    path = Path(folder) / f"episode-{track.name.replace(':', '-')}.npy"
    np.save(path, frames)
    return {"seed": track.seed, "track": track.name, "file": str(path), "times_s": ep.times_s,
            "steering": ep.labels_rad,
            "executed": ep.executed_rad, "command": ep.commands_rad, "speed": ep.speed_mps, "breaks": ep.breaks,
            "metrics": ep.metrics()}


def shaper_for(cfg: RecordConfig) -> FrameShaper:
    cls = simulator_entry(cfg.sim).make
    h, w = cfg.size if cfg.size else (None, None)
    return FrameShaper(cls.frame_shape[0], cls.frame_shape[1], 0, cls.crop_bottom, h, w)


def record_sim(cfg: RecordConfig) -> Path:
    if not cfg.seeds:
        raise ConfigError("--seeds: no tracks given")
    seeds = parse_seeds(cfg.seeds)
    tracks = tracks_for(cfg.sim, seeds, cfg.maps)
    read_driver(cfg.driver, cfg.sim)  # a run that cannot drive fails before anything is written
    shaper = shaper_for(cfg)
    cls = simulator_entry(cfg.sim).make
    with RecordingWriter(cfg.out, overwrite=cfg.overwrite) as writer:
        episodes = run_parallel(_episode_to_file, tracks, cfg.workers, (cfg, str(writer.tmp)), "record-sim",
                                cfg.progress)
        total = sum(len(e["steering"]) for e in episodes)
        file = "frames.mp4" if cfg.store == "video" else "frames.npy"
        out = writer.frames(file, total, shaper.out_height, shaper.out_width, 3,
                            fps=1.0 / (frame_skip_of(cfg) * cls.physics_dt_s))
        times, breaks, offset = [], [], 0.0
        columns: dict[str, list[float]] = {"steering": [], "speed": [], "executed_steering": [],
                                           "driver_steering": []}
        for e in episodes:
            frames = np.load(e["file"], mmap_mode="r")
            for i in range(0, len(frames), 256):
                out.write(np.asarray(frames[i : i + 256]))
            del frames
            os.remove(e["file"])
            start = len(columns["steering"])
            breaks += [start] + [start + b for b in e["breaks"]]
            times += [offset + t for t in e["times_s"]]
            offset = (times[-1] if times else 0.0) + EPISODE_GAP_S
            for name, key in (("steering", "steering"), ("speed", "speed"), ("executed_steering", "executed"),
                              ("driver_steering", "command")):
                columns[name] += e[key]
        t = np.asarray(times)
        segments = split_segments(t, EPISODE_GAP_S / 2, np.asarray(breaks))
        kind = simulator_entry(cfg.sim)
        manifest = Manifest(
            source=Source(format=cfg.sim, path=kind.version(), details={
                "seeds": seeds, "maps": cfg.maps, "tracks": [t.name for t in tracks], "laps": cfg.laps,
                "conditions": to_dict(cfg.conditions), "noise": cfg.conditions.noise,
                "frame_skip": frame_skip_of(cfg), "expert": to_dict(cfg.expert) if cfg.expert else None,
                "driver": cfg.driver if cfg.driver == EXPERT else str(Path(cfg.driver).absolute()),
                "expert_share": cfg.expert_share, "episodes": [e["metrics"] for e in episodes]}),
            frame=FrameGeometry(height=shaper.out_height, width=shaper.out_width, channels=3,
                                source_height=cls.frame_shape[0], source_width=cls.frame_shape[1], crop_top=0,
                                crop_bottom=cls.crop_bottom),
            fps=frame_rate(t, np.asarray([s.start for s in segments])),
            steering=Steering(unit=kind.unit, to_rad=kind.to_rad, note=kind.note, kind=kind.kind),
            cameras=[Camera(name="front", file=file)],
            segments=segments, frames=total, signals=[], gap_threshold_s=EPISODE_GAP_S / 2,
            view=cls.camera_view if isinstance(cls.camera_view, TopDownView) else None,
            dashcam=cls.camera_view if isinstance(cls.camera_view, DashcamView) else None,
        )
        signals = {"timestamp_s": t, "segment": segment_ids(segments, total),
                   **{k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}}
        return writer.commit(manifest, signals)
