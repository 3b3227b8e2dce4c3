"""Training throughput on this CPU: frames/s, the fraction of time waiting for data, peak memory.

    python benchmarks/bench_train_speed.py --data REC [--models pilotnet,cnn_gru] [--epochs 2]

Each model trains in its own process (2 threads) for a couple of epochs; the figures are the mean over
the epochs after the first (which pays for warm-up). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys
from timesteer.train import TrainConfig, train
data, out, model, epochs = sys.argv[1:5]
r = train(TrainConfig(data=data, out=out, model=model, epochs=int(epochs), patience=0, threads=2,
                      progress=False, tensorboard=False))
h = r.history[1:] or r.history
print(json.dumps({"frames_per_s": sum(x["frames_per_s"] for x in h) / len(h),
                  "data_wait_fraction": sum(x["data_wait_fraction"] for x in h) / len(h),
                  "peak_rss_mib": max(x["peak_rss_mib"] for x in r.history)}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--models", default="pilotnet,cnn_gru,diffnet,cnn_lstm,conv3d_lstm,mean")
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            res = subprocess.run([sys.executable, "-c", CHILD, args.data, f"{tmp}/{model}", model, str(args.epochs)],
                                 capture_output=True, text=True, check=True)
            rows.append({"model": model, **json.loads(res.stdout.strip().splitlines()[-1])})
    print(json.dumps({"benchmark": "train_speed", "data": args.data, "cpus": os.cpu_count(), "threads": 2,
                      "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
