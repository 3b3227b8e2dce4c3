"""Many drives cost nothing extra: training speed and memory with one recording, and with the same
frames as K recordings.

    python benchmarks/bench_many_drives.py --drive ../shared/data/udacity-sim/track1_stay_center [--parts 6]

The drive's log is cut into K consecutive parts, each imported as its own recording (the parts' folders
link to the drive's IMG/, nothing is copied); the whole drive is imported once too. `pilotnet` and
`cnn_gru` each train 3 epochs on the whole drive and on the K parts (a directory of recordings), in fresh
processes, 2 threads: frames/s (mean of epochs 2-3) and peak resident memory. Goal: K recordings within
10% of one of the same total length, and memory that does not grow with K.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys
from timesteer.train import TrainConfig, train
data, out, model = sys.argv[1:4]
r = train(TrainConfig(data=data, out=out, model=model, epochs=3, patience=0, threads=2, progress=False,
                      tensorboard=False))
h = r.history[1:]
print(json.dumps({"frames_per_s": sum(x["frames_per_s"] for x in h) / len(h),
                  "peak_rss_mib": max(x["peak_rss_mib"] for x in r.history),
                  "data_wait_fraction": max(x["data_wait_fraction"] for x in h)}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drive", required=True, help="a Udacity simulator recording folder")
    p.add_argument("--parts", type=int, default=6)
    p.add_argument("--models", default="pilotnet,cnn_gru")
    args = p.parse_args()
    drive = Path(args.drive).absolute()
    lines = (drive / "driving_log.csv").read_text().splitlines()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ts = [sys.executable, "-m", "timesteer"]
        common = ["--size", "66x200", "--crop", "60,20", "--quiet"]
        subprocess.run([*ts, "import", "udacity-sim", str(drive), str(root / "whole"), *common], check=True,
                       capture_output=True)
        per = -(-len(lines) // args.parts)
        for k in range(args.parts):
            src = root / f"src{k}"
            src.mkdir()
            (src / "IMG").symlink_to(drive / "IMG")
            (src / "driving_log.csv").write_text("\n".join(lines[k * per : (k + 1) * per]) + "\n")
            subprocess.run([*ts, "import", "udacity-sim", str(src), str(root / "parts" / f"part{k}"), *common],
                           check=True, capture_output=True)
        for model in args.models.split(","):
            for name, data in (("one recording", root / "whole"), (f"{args.parts} recordings", root / "parts")):
                out = root / f"run-{model}-{name.split()[0]}"
                res = subprocess.run([sys.executable, "-c", CHILD, str(data), str(out), model], check=True,
                                     capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
                rows.append({"model": model, "data": name, **json.loads(res.stdout.strip().splitlines()[-1])})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    for model in args.models.split(","):
        one, many = [r for r in rows if r["model"] == model]
        many["speed_vs_one"] = many["frames_per_s"] / one["frames_per_s"]
    print(json.dumps({"benchmark": "many-drives", "drive": str(drive), "parts": args.parts, "cpus": os.cpu_count(),
                      "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
