"""Training throughput: frames/s, the fraction of time waiting for data, peak memory, on the CPU or a GPU.

    python benchmarks/bench_train_speed.py --data REC [--models pilotnet,cnn_gru] [--epochs 3]
    python benchmarks/bench_train_speed.py --data REC --device cuda [--no-amp]   # on a GPU (AMP by default)
    python benchmarks/bench_train_speed.py --data REC --allocator both --repeats 3  # glibc malloc tuned or not

`--allocator both` trains every model with timesteer's malloc settings (`timesteer.allocator`) and with
glibc's defaults (`TIMESTEER_MALLOC=default`), taking turns, and reports the ratio per model and repeat:
the machine's speed drifts, so only turns taken side by side are compared.

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
    p.add_argument("--allocator", choices=["tuned", "default", "both"], default="tuned",
                   help="timesteer's glibc malloc settings, glibc's defaults, or both in turns")
    p.add_argument("--repeats", type=int, default=1, help="rounds over the models")
    args = p.parse_args()
    import torch

    modes = ["default", "tuned"] if args.allocator == "both" else [args.allocator]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for model in args.models.split(","):
                got = {}
                for mode in modes:
                    env = {**os.environ, "TIMESTEER_MALLOC": "default" if mode == "default" else "tuned"}
                    out = f"{tmp}/{model}-{repeat}-{mode}"
                    res = subprocess.run([sys.executable, "-c", CHILD, args.data, out, model, str(args.epochs),
                                          args.device, "1" if args.amp else "0", str(args.threads)],
                                         capture_output=True, text=True, env=env)
                    if res.returncode:
                        sys.exit(f"{model}: training failed:\n{res.stderr[-3000:]}")
                    got[mode] = json.loads(res.stdout.strip().splitlines()[-1])
                    rows.append({"model": model, "repeat": repeat, "allocator": mode, **got[mode]})
                if len(got) == 2:
                    rows.append({"model": model, "repeat": repeat, "tuned_over_default":
                                 got["tuned"]["frames_per_s"] / got["default"]["frames_per_s"]})
    gpu = torch.cuda.get_device_name() if args.device == "cuda" and torch.cuda.is_available() else None
    print(json.dumps({"benchmark": "train_speed", "data": args.data, "cpu": cpu_name(), "cpus": os.cpu_count(),
                      "gpu": gpu, "device": args.device, "amp": args.amp and args.device == "cuda",
                      "threads": args.threads, "epochs": args.epochs, "allocator": args.allocator,
                      "torch": torch.__version__, "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
