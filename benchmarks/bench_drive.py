"""Closed-loop autonomy on held-out CarRacing tracks: the expert, and pilotnet / cnn_gru / conv3d_lstm
trained on expert recordings with and without steering noise.

    python benchmarks/bench_drive.py --out /tmp/bench-drive [--train-seeds 1-8] [--test-seeds 1001-1020]
                                     [--drive-noise 0.6]

Training tracks and test tracks are disjoint. Each model trains on the same recording for the same
epochs (validation: the last 20% of each of 5 time blocks, for early stopping), then drives one lap
of every test track; with --drive-noise, random steering pulses disturb every driver the same way.
Recordings and runs already in --out are reused. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from timesteer.sim import DriveConfig, RecordConfig, drive, parse_seeds, record_sim
from timesteer.train import TrainConfig, train


def summarize(result: dict) -> dict:
    keys = ("autonomy_pct", "interventions", "laps_completed", "laps_attempted", "elapsed_s", "mean_offset_m",
            "max_offset_m", "steering_jerk_rms_rad_s2")
    return {k: result[k] for k in keys} | {"perfect_tracks": sum(t["interventions"] == 0 for t in result["tracks"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--train-seeds", default="1-8")
    p.add_argument("--test-seeds", default="1001-1020")
    p.add_argument("--models", default="pilotnet,cnn_gru,conv3d_lstm")
    p.add_argument("--noise", type=float, default=0.4)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drive-noise", type=float, default=0.0, help="disturbances while driving the test tracks")
    args = p.parse_args()
    out = Path(args.out)
    train_seeds, test_seeds = parse_seeds(args.train_seeds), parse_seeds(args.test_seeds)
    rows = []
    t0 = time.perf_counter()
    disturb = args.drive_noise
    rows.append({"model": "expert", "noise": None, "drive_noise": disturb,
                 **summarize(drive(DriveConfig(run="expert", seeds=test_seeds, noise=disturb, progress=False)))})
    print(json.dumps(rows[-1]), flush=True)
    for noise in (0.0, args.noise):
        rec = out / f"rec-noise{noise}"
        if not rec.exists():
            record_sim(RecordConfig(seeds=train_seeds, out=str(rec), noise=noise, progress=False))
        for model in args.models.split(","):
            run = out / f"{model}-noise{noise}"
            if not (run / "best.pt").exists():
                train(TrainConfig(data=str(rec), out=str(run), model=model, epochs=args.epochs, val_split="blocks",
                                  seed=args.seed, threads=2, progress=False, tensorboard=False))
            result = drive(DriveConfig(run=str(run), seeds=test_seeds, noise=disturb, progress=False))
            assert not result["seeds_overlap_training"]
            rows.append({"model": model, "noise": noise, "drive_noise": disturb, **summarize(result)})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"benchmark": "drive", "train_seeds": train_seeds, "test_seeds": test_seeds,
                      "epochs": args.epochs, "cpus": os.cpu_count(), "python": platform.python_version(),
                      "minutes": round((time.perf_counter() - t0) / 60, 1), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
