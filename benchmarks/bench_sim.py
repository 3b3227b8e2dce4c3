"""Simulator speed: physics steps per second while recording the expert and while a model drives,
in one process and in parallel (one process per CPU).

    python benchmarks/bench_sim.py --run RUN [--seeds 1-4]

Steps are CarRacing physics steps (50 per simulated second); frames are rendered every
`frame_skip` (2) steps, which is what costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

from timesteer.sim import DriveConfig, RecordConfig, drive, parse_seeds, record_sim


def steps_per_s(elapsed_sim_s: float, wall_s: float) -> float:
    return elapsed_sim_s * 50 / wall_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True, help="a run trained on record-sim frames")
    p.add_argument("--seeds", default="1-4")
    p.add_argument("--laps", type=float, default=0.5)
    args = p.parse_args()
    seeds = parse_seeds(args.seeds)
    rows = []
    for workers in (1, os.cpu_count() or 1):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            rec = record_sim(RecordConfig(seeds=seeds, out=f"{tmp}/rec", laps=args.laps, workers=workers,
                                          progress=False))
            wall = time.perf_counter() - t0
            from timesteer.data import Recording

            sim_s = len(Recording.open(rec)) * 2 / 50
            rows.append({"what": "record-sim (expert)", "processes": workers, "steps_per_s": steps_per_s(sim_s, wall),
                         "wall_s": wall})
        for who in ("expert", args.run):
            t0 = time.perf_counter()
            result = drive(DriveConfig(run=who, seeds=seeds, laps=args.laps, workers=workers, progress=False))
            wall = time.perf_counter() - t0
            rows.append({"what": f"drive ({'expert' if who == 'expert' else 'model'})", "processes": workers,
                         "steps_per_s": steps_per_s(result["elapsed_s"], wall), "wall_s": wall})
    print(json.dumps({"benchmark": "sim", "seeds": seeds, "laps": args.laps, "cpus": os.cpu_count(),
                      "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
