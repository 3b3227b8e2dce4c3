"""Model drives side by side: how torch's thread count in each driving process changes the wall time.

    python benchmarks/bench_drive_threads.py --run RUN [--seeds 1001-1003] [--threads 1,2] [--side-by-side 1,2]

For every (threads, processes) pair, `processes` spawned processes each set torch to `threads` threads and
drive the same tracks (CarRacing, `hard`, one lap each) one after another, as `timesteer drive --workers 1`
does in its own process. Prints JSON: wall time per process and CarRacing physics steps per second of
wall time (50 per simulated second), summed over the processes running together. Run it with nothing
else on the machine; compare the rows of one run with each other, not with another day's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time

from machine import cpu_name  # benchmarks/machine.py: scripts run with their own folder on sys.path

from timesteer.sim import CONDITIONS, EpisodeConfig, parse_seeds, run_episode
from timesteer.sim.drivers import model_policy


def _drive(job: tuple[str, list[int], int]) -> dict[str, float]:
    import torch

    run, seeds, threads = job
    torch.set_num_threads(threads)
    policy, reset, issued = model_policy(run)
    sim_s = 0.0
    t0 = time.perf_counter()
    for seed in seeds:
        ep = run_episode(seed, EpisodeConfig(conditions=CONDITIONS["hard"]), policy, reset, on_command=issued)
        sim_s += ep.elapsed_s
    return {"wall_s": time.perf_counter() - t0, "sim_s": sim_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True, help="a run trained on CarRacing record-sim frames")
    p.add_argument("--seeds", default="1001-1003")
    p.add_argument("--threads", default="1,2", help="torch threads per driving process, comma list")
    p.add_argument("--side-by-side", default="1,2", help="driving processes at once, comma list")
    args = p.parse_args()
    seeds = parse_seeds(args.seeds)
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for n in (int(x) for x in args.side_by_side.split(",")):
        for threads in (int(x) for x in args.threads.split(",")):
            with ctx.Pool(n) as pool:
                each = pool.map(_drive, [(args.run, seeds, threads)] * n)
            rows.append({"processes": n, "torch_threads": threads,
                         "wall_s_per_process": [round(r["wall_s"], 1) for r in each],
                         "steps_per_s_all": round(sum(r["sim_s"] * 50 / r["wall_s"] for r in each), 1)})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"benchmark": "drive_threads", "run": args.run, "seeds": seeds, "cpu": cpu_name(),
                      "cpus": os.cpu_count(), "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
