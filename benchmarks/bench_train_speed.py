"""Training throughput: frames/s, the fraction of time waiting for data, peak memory, on the CPU or a GPU.

    python benchmarks/bench_train_speed.py --data REC [--models pilotnet,cnn_gru] [--epochs 3]
    python benchmarks/bench_train_speed.py --data REC --device cuda [--no-amp]   # on a GPU (AMP by default)

Each model trains in its own process for a few epochs; the figures are the mean over the epochs after the
first (which pays for warm-up, and on a GPU for cuDNN's autotuning). Prints one JSON object naming the
machine (CPU model, GPU, torch version).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

from machine import cpu_name  # benchmarks/machine.py: scripts run with their own folder on sys.path

CHILD = r"""
import json, sys
import torch
from timesteer.train import TrainConfig, train
data, out, model, epochs, device, amp, threads = sys.argv[1:8]
r = train(TrainConfig(data=data, out=out, model=model, epochs=int(epochs), patience=0, threads=int(threads),
                      device=device, amp=amp == "1", progress=False, tensorboard=False))
h = r.history[1:] or r.history
row = {"frames_per_s": sum(x["frames_per_s"] for x in h) / len(h),
       "data_wait_fraction": sum(x["data_wait_fraction"] for x in h) / len(h),
       "peak_rss_mib": max(x["peak_rss_mib"] for x in r.history),
       "best_val_rmse": r.best_val_rmse}
if torch.cuda.is_available() and device != "cpu":
    row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(row))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--models", default="pilotnet,cnn_gru,diffnet,cnn_lstm,conv3d_lstm,mean")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="full precision on a GPU")
    p.add_argument("--threads", type=int, default=2, help="torch compute threads")
    args = p.parse_args()
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            res = subprocess.run([sys.executable, "-c", CHILD, args.data, f"{tmp}/{model}", model, str(args.epochs),
                                  args.device, "1" if args.amp else "0", str(args.threads)],
                                 capture_output=True, text=True)
            if res.returncode:
                sys.exit(f"{model}: training failed:\n{res.stderr[-3000:]}")
            rows.append({"model": model, **json.loads(res.stdout.strip().splitlines()[-1])})
    gpu = torch.cuda.get_device_name() if args.device == "cuda" and torch.cuda.is_available() else None
    print(json.dumps({"benchmark": "train_speed", "data": args.data, "cpu": cpu_name(), "cpus": os.cpu_count(),
                      "gpu": gpu, "device": args.device, "amp": args.amp and args.device == "cuda",
                      "threads": args.threads, "epochs": args.epochs, "torch": torch.__version__,
                      "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
