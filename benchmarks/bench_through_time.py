"""The lecture's picture on real data: how far the training gradient reaches back through a plain RNN, a
GRU and an LSTM (`train --grad-through-time`), and how long `timesteer explain` takes on the drive.

    python benchmarks/bench_through_time.py --data REC --out /tmp/through-time [--epochs 10] [--seeds 0,1,2]

REC is the shared drive imported at 66x200 with the crop (BENCHMARKS.md). `rnn`, `cnn_gru` and `cnn_lstm`
share everything but the recurrence (the same per-frame CNN on each frame and its motion, 16-frame TBPTT
chunks). For each, the last epoch's |dL_t/dh_{t-k}| relative to k = 0, the curve averaged over seeds,
with the validation RMSE; then `timesteer explain` on the 592-frame validation block, timed. Writes
gradient_through_time.png into OUT and prints JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = ("rnn", "cnn_gru", "cnn_lstm")


def curve(run: Path) -> np.ndarray:
    with open(run / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("grad_through_time")]
    return np.asarray([float(v) for v in rows[-1]["grad_through_time"].split()])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    ts = [sys.executable, "-m", "timesteer"]
    rows, curves = [], {}
    for model in MODELS:
        per_seed = []
        for seed in args.seeds.split(","):
            run = out / f"{model}-seed{seed}"
            if not (run / "best.pt").exists():
                subprocess.run([*ts, "train", "--data", args.data, "--out", str(run), "--model", model, "--epochs",
                                str(args.epochs), "--seed", seed, "--grad-through-time", "--threads", str(args.threads),
                                "--patience", "0", "--quiet", "--no-tensorboard"], check=True, env=env,
                               capture_output=True)
            c = curve(run)
            per_seed.append(c / c[0])
            info = json.loads((run / "run.json").read_text())
            rows.append({"model": model, "seed": int(seed), "val_rmse": info["best_val_rmse"],
                         "relative": [round(float(v), 5) for v in c / c[0]]})
        mean = np.mean(np.stack(per_seed), axis=0)
        curves[model] = mean
        print(json.dumps({"model": model, "relative_mean": [round(float(v), 5) for v in mean]}), file=sys.stderr)
    from timesteer.evaluate.plots import plot_gradient_through_time

    plot_gradient_through_time(curves, out / "gradient_through_time.png")
    t0 = time.perf_counter()
    subprocess.run([*ts, "explain", str(out / f"cnn_gru-seed{args.seeds.split(',')[0]}"), "--data", args.data,
                    "--out", str(out / "explain"), "--quiet"], check=True, env=env, capture_output=True)
    explain_s = time.perf_counter() - t0
    summary = json.loads((out / "explain" / "explain.json").read_text())
    print(json.dumps({"benchmark": "through-time", "data": args.data, "epochs": args.epochs, "cpus": os.cpu_count(),
                      "python": platform.python_version(), "threads": args.threads,
                      "relative_mean": {m: [round(float(v), 5) for v in c] for m, c in curves.items()},
                      "runs": rows, "explain_seconds": round(explain_s, 1), "explain_frames": summary["frames"],
                      "memory_horizon_s": summary["memory_horizon_s"]}, indent=2))


if __name__ == "__main__":
    main()
