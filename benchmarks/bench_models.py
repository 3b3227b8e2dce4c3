"""Validation RMSE of every model on the real Udacity simulator drive, several seeds, one budget.

    python benchmarks/bench_models.py --data REC --seeds 0,1,2 --epochs 20 --out /tmp/bench-models

REC is ../shared/data/udacity-sim/track1_stay_center imported at 66x200 (see BENCHMARKS.md). Each
(model, seed) trains in its own process with 2 threads, the last 20% of the drive held out, no early
stopping (every model gets the same epochs). Prints one JSON object: per run and a mean/std summary.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = {
    "mean": ("mean", {}),
    "pilotnet": ("pilotnet", {}),
    "diffnet": ("diffnet", {}),
    "cnn_lstm": ("cnn_lstm", {}),
    "cnn_gru": ("cnn_gru", {}),
    "cnn_gru (no motion)": ("cnn_gru", {"motion_frames": 1, "shift_bands": 0}),
    "cnn_gru (no slide)": ("cnn_gru", {"shift_bands": 0}),
    "conv3d_lstm": ("conv3d_lstm", {}),
}

CHILD = r"""
import json, sys
from timesteer.train import TrainConfig, train
data, out, model, config, seed, epochs = sys.argv[1:7]
r = train(TrainConfig(data=data, out=out, model=model, model_config=json.loads(config), seed=int(seed),
                      epochs=int(epochs), patience=0, threads=2, progress=False, tensorboard=False))
h = r.history
print(json.dumps({"best_val_rmse": r.best_val_rmse, "best_epoch": r.best_epoch + 1,
                  "final_val_rmse": h[-1]["val_rmse"],
                  "frames_per_s": sum(x["frames_per_s"] for x in h) / len(h),
                  "data_wait_fraction": max(x["data_wait_fraction"] for x in h),
                  "peak_rss_mib": max(x["peak_rss_mib"] for x in h)}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--models", default=",".join(VARIANTS), help="comma list of variant names")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for label in args.models.split(","):
        model, config = VARIANTS[label]
        for seed in seeds:
            out = Path(args.out) / f"{label.replace(' ', '_').replace('(', '').replace(')', '')}-seed{seed}"
            res = subprocess.run([sys.executable, "-c", CHILD, args.data, str(out), model, json.dumps(config),
                                  str(seed), str(args.epochs)], capture_output=True, text=True, check=True)
            row = {"variant": label, "model": model, "config": config, "seed": seed, "run": str(out),
                   **json.loads(res.stdout.strip().splitlines()[-1])}
            runs.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    summary = []
    for label in args.models.split(","):
        rows = [r for r in runs if r["variant"] == label]
        best = [r["best_val_rmse"] for r in rows]
        final = [r["final_val_rmse"] for r in rows]
        summary.append({"variant": label, "best_val_rmse_mean": statistics.mean(best),
                        "best_val_rmse_std": statistics.pstdev(best), "best_val_rmse_min": min(best),
                        "best_val_rmse_max": max(best), "final_val_rmse_mean": statistics.mean(final),
                        "final_val_rmse_std": statistics.pstdev(final)})
    print(json.dumps({"benchmark": "models", "data": args.data, "epochs": args.epochs, "seeds": seeds,
                      "python": platform.python_version(), "summary": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
