"""What `hard` asks of a driver that cannot see the pushes: the expert, told of each push k frames late.

    python benchmarks/bench_push_ceiling.py [--tracks 1001-1020] [--delays 0,1,2,3,never] [--workers 2]
    python benchmarks/bench_push_ceiling.py --sim duckietown --tracks 101-102 --max-seconds 20 \
        [--maps udem1,small_loop_cw,ETH_small_intersect,ETHZ_loop,Montreal_loop]

The expert is privileged: it knows the steering disturbance the moment it starts and cancels it. A
camera-only driver can only tell a push from how the car then moves, a frame or more later. Here the
same expert (true pose, latency-aware) learns of the disturbance `k` frames late (`never`: not at all),
on the held-out tracks of bench_closed_loop.py under `hard` (or Duckietown's held-out maps, with
`--sim duckietown`). Its autonomy at k frames is the ceiling for a learner that detects a push k frames
after it starts. Prints one JSON line per delay.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections import deque
from concurrent.futures import ProcessPoolExecutor

from bench_duckietown import TEST_MAPS  # the held-out maps: one list for both benchmarks (run from benchmarks/)

from timesteer.sim import CONDITIONS, EpisodeConfig, autonomy_pct, run_episode, simulator_names
from timesteer.sim import expert as expert_module
from timesteer.sim.parallel import parse_seeds
from timesteer.sim.registry import simulator_entry
from timesteer.sim.stats import track_interval
from timesteer.sim.tracks import Track, tracks_for

TRUE_LAW = expert_module.Expert.steer_rad  # kept before any replacement: pool processes are reused


def install_late_expert(delay: int | None) -> None:
    """Replace the expert's steering law, in this process, with one that hears of pushes `delay` frames
    late (None: never). It is called once per camera frame while driving (per physics step in the
    warm-up, where there are no pushes), so a queue of its calls is a queue of frames."""
    original = TRUE_LAW
    if delay == 0:
        expert_module.Expert.steer_rad = original
        return
    heard: deque[float] = deque([0.0] * (delay or 0))

    def late(self, sim, pending=(), disturbance_rad: float = 0.0) -> float:
        if delay is None:
            return original(self, sim, pending, 0.0)
        heard.append(disturbance_rad)
        return original(self, sim, pending, heard.popleft())

    expert_module.Expert.steer_rad = late


def drive(job: tuple[int | None, Track, float]) -> dict:
    delay, track, max_seconds = job
    install_late_expert(delay)
    cfg = EpisodeConfig(conditions=CONDITIONS["hard"], max_seconds=max_seconds,
                        frame_skip=simulator_entry(track.sim).frame_skip)
    m = run_episode(track.seed, cfg, make_sim=track.factory(), track=track.name).metrics()
    return {"seed": track.seed, "track": track.name, "autonomy_pct": m["autonomy_pct"],
            "interventions": m["interventions"], "elapsed_s": m["elapsed_s"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", choices=simulator_names(), default="carracing")
    p.add_argument("--tracks", default="1001-1020", help="track seeds (Duckietown: each map with each seed)")
    p.add_argument("--maps", default=",".join(TEST_MAPS), help="Duckietown maps, comma separated")
    p.add_argument("--max-seconds", type=float, default=150.0, help="simulated seconds per track at most")
    p.add_argument("--delays", default="0,1,2,3,never",
                   help="frames late (CarRacing 25 frames per second, Duckietown 30); never")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    maps = args.maps.split(",") if args.sim == "duckietown" else None
    chosen = tracks_for(args.sim, parse_seeds(args.tracks), maps)
    delays = [None if d == "never" else int(d) for d in args.delays.split(",")]
    with ProcessPoolExecutor(args.workers) as pool:
        for delay in delays:
            # One job per track and delay: the queue of what the expert heard never crosses tracks.
            jobs = [(delay, t, args.max_seconds) for t in chosen]
            tracks = list(pool.map(drive, jobs, chunksize=1))
            interventions = sum(t["interventions"] for t in tracks)
            elapsed = sum(t["elapsed_s"] for t in tracks)
            heard = delay if delay is not None else "never"
            print(json.dumps({"benchmark": "push_ceiling", "push_known_frames_late": heard, "sim": args.sim,
                              "tracks": args.tracks, "maps": maps,
                              "autonomy_pct": round(autonomy_pct(interventions, elapsed), 1),
                              "interventions": interventions, "elapsed_s": round(elapsed, 1),
                              **{k: v for k, v in track_interval(tracks).items() if k.endswith("ci95")},
                              "cpus": os.cpu_count(), "python": platform.python_version()}), flush=True)


if __name__ == "__main__":
    main()
