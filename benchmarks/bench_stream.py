"""Live steering latency: p50/p99 ms per frame with the carried-state Steerer in PyTorch and in ONNX
Runtime, versus re-running a 10-frame window every step (the donkeycar way), for pilotnet, cnn_gru and
conv3d_lstm.

    python benchmarks/bench_stream.py --data REC [--frames 500]

Latency does not depend on how well a model is trained, so each model trains for a few steps only
(to have a real run directory, normalisation included), then `timesteer bench stream` measures it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--models", default="pilotnet,cnn_gru,conv3d_lstm")
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            run = f"{tmp}/{model}"
            subprocess.run([sys.executable, "-m", "timesteer", "train", "--data", args.data, "--model", model, "--out",
                            run, "--epochs", "1", "--max-steps-per-epoch", "2", "--quiet", "--no-tensorboard"],
                           check=True, capture_output=True)
            out = subprocess.run([sys.executable, "-m", "timesteer", "bench", "stream", run, "--frames",
                                  str(args.frames), "--threads", str(args.threads), "--json"], check=True,
                                 capture_output=True, text=True).stdout
            result = json.loads(out)
            result.pop("run")
            rows.append(result)
    print(json.dumps({"benchmark": "stream", "data": args.data, "cpus": os.cpu_count(),
                      "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
