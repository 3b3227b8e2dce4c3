"""`timesteer record-sim`: the expert drives CarRacing tracks and a recording comes out, in the same
format as the importers write (frames, `timestamp_s`, `steering`, `speed`, one segment per episode).

Episodes run in parallel processes; each writes its frames to a temporary file inside the recording
being built, and the parent joins them in seed order, so memory stays flat and the result does not
depend on which process finished first.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import gymnasium
import numpy as np
from tqdm import tqdm

from timesteer.config import AtLeastOne, NonNegative, Positive, to_dict, validate
from timesteer.data.imaging import FrameShaper
from timesteer.data.manifest import Camera, FrameGeometry, Manifest, Source, Steering
from timesteer.data.segments import frame_rate, segment_ids, split_segments
from timesteer.data.writer import RecordingWriter
from timesteer.errors import ConfigError
from timesteer.sim.env import DASHBOARD_ROWS, MAX_STEER_RAD, OBS_SIZE
from timesteer.sim.episode import EpisodeConfig, run_episode
from timesteer.sim.expert import ExpertConfig

EPISODE_GAP_S = 10.0  # time left between episodes in timestamp_s, so segments never touch


def parse_seeds(text: str | list[int]) -> list[int]:
    """'1-8' -> [1..8]; '1,3,5' -> [1, 3, 5]; '1-3,10' -> [1, 2, 3, 10]."""
    if isinstance(text, list):
        return text
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ConfigError(f"--seeds: expected A-B or a comma list of whole numbers, got {text!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise ConfigError(f"--seeds: range {a}-{b} runs backwards")
        seeds += range(a, b + 1)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds: {text!r} names a track twice")
    return seeds


@dataclass
class RecordConfig:
    seeds: list[int]
    out: str
    laps: Annotated[float, Positive] = 1.0
    noise: Annotated[float, NonNegative] = 0.0  # steering perturbations while the expert's label is recorded
    frame_skip: Annotated[int, AtLeastOne] = 2
    max_seconds: Annotated[float, Positive] = 150.0
    size: Annotated[tuple[int, int] | None, AtLeastOne] = None  # working size; default the cropped 84x96 view
    workers: Annotated[int, NonNegative] = 0  # parallel episodes; 0 = one per CPU
    overwrite: bool = False
    progress: bool = True
    expert: ExpertConfig = field(default_factory=ExpertConfig)

    def __post_init__(self) -> None:
        validate(self)


def _episode_to_file(seed: int, cfg: RecordConfig, folder: str) -> dict[str, Any]:
    """Worker: drive one episode, shape its frames, save them; return signals and metrics."""
    ep = run_episode(seed, EpisodeConfig(laps=cfg.laps, max_seconds=cfg.max_seconds, frame_skip=cfg.frame_skip,
                                         noise=cfg.noise, keep_frames=True, expert=cfg.expert))
    shaper = shaper_for(cfg)
    frames = np.stack([shaper.shape_array(f) for f in ep.frames]) if ep.frames else np.zeros(
        (0, shaper.out_height, shaper.out_width, 3), np.uint8)
    path = Path(folder) / f"episode-{seed}.npy"
    np.save(path, frames)
    return {"seed": seed, "file": str(path), "times_s": ep.times_s, "steering": ep.labels_rad,
            "executed": ep.steering_rad, "speed": ep.speed_mps, "throttle": ep.throttle, "brake": ep.brake,
            "breaks": ep.breaks, "metrics": ep.metrics()}


def shaper_for(cfg: RecordConfig) -> FrameShaper:
    h, w = cfg.size if cfg.size else (None, None)
    return FrameShaper(OBS_SIZE[0], OBS_SIZE[1], 0, DASHBOARD_ROWS, h, w)


def run_parallel(fn, seeds: list[int], workers: int, args: tuple, desc: str, progress: bool) -> list[dict]:
    """fn(seed, *args) for every seed, on `workers` spawned processes; results in seed order.

    On any error, Ctrl-C or termination signal the worker processes are terminated at once (not waited
    for), so the caller's clean-up runs straight away."""
    workers = min(len(seeds), workers or os.cpu_count() or 1)
    results: dict[int, dict] = {}
    bar = tqdm(total=len(seeds), desc=desc, unit="track", disable=not progress, leave=False)
    try:
        if workers <= 1:
            for seed in seeds:
                results[seed] = fn(seed, *args)
                bar.update(1)
        else:
            # spawn, not fork: the parent may hold torch threads and a Box2D world, which fork copies badly.
            ctx = multiprocessing.get_context("spawn")
            pool = ctx.Pool(workers, initializer=_worker_init)
            try:
                for seed, result in pool.imap_unordered(_call, [(fn, seed, args) for seed in seeds]):
                    results[seed] = result
                    bar.update(1)
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
    finally:
        bar.close()
    return [results[s] for s in seeds]


def _call(job: tuple) -> tuple[int, dict]:
    fn, seed, args = job
    return seed, fn(seed, *args)


def _worker_init() -> None:
    import signal

    import torch

    torch.set_num_threads(1)  # one process per core already
    # Ctrl-C goes to the whole process group; the parent decides, and terminates workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def record_sim(cfg: RecordConfig) -> Path:
    if not cfg.seeds:
        raise ConfigError("--seeds: no tracks given")
    if cfg.frame_skip < 1:
        raise ConfigError(f"frame_skip: expected >= 1, got {cfg.frame_skip}")
    shaper = shaper_for(cfg)
    with RecordingWriter(cfg.out, overwrite=cfg.overwrite) as writer:
        episodes = run_parallel(_episode_to_file, cfg.seeds, cfg.workers, (cfg, str(writer.tmp)), "record-sim",
                                cfg.progress)
        total = sum(len(e["steering"]) for e in episodes)
        out = writer.frames("frames.npy", total, shaper.out_height, shaper.out_width, 3)
        times, breaks, offset = [], [], 0.0
        columns: dict[str, list[float]] = {"steering": [], "speed": [], "throttle": [], "brake": [],
                                           "executed_steering": []}
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
            for name, key in (("steering", "steering"), ("speed", "speed"), ("throttle", "throttle"),
                              ("brake", "brake"), ("executed_steering", "executed")):
                columns[name] += e[key]
        t = np.asarray(times)
        segments = split_segments(t, EPISODE_GAP_S / 2, np.asarray(breaks))
        manifest = Manifest(
            source=Source(format="carracing", path=f"gymnasium {gymnasium.__version__} CarRacing-v3", details={
                "seeds": cfg.seeds, "laps": cfg.laps, "noise": cfg.noise, "frame_skip": cfg.frame_skip,
                "expert": to_dict(cfg.expert), "episodes": [e["metrics"] for e in episodes]}),
            frame=FrameGeometry(height=shaper.out_height, width=shaper.out_width, channels=3,
                                source_height=OBS_SIZE[0], source_width=OBS_SIZE[1], crop_top=0,
                                crop_bottom=DASHBOARD_ROWS),
            fps=frame_rate(t, np.asarray([s.start for s in segments])),
            steering=Steering(unit="rad", to_rad=1.0, note=f"CarRacing front-wheel angle, the expert's label; "
                                                           f"positive steers right; the joint stops at "
                                                           f"{MAX_STEER_RAD} rad"),
            cameras=[Camera(name="front", file="frames.npy")],
            segments=segments, frames=total, signals=[], gap_threshold_s=EPISODE_GAP_S / 2,
        )
        signals = {"timestamp_s": t, "segment": segment_ids(segments, total),
                   **{k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}}
        return writer.commit(manifest, signals)
