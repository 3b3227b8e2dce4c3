"""Import speed and peak memory on the real Udacity simulator drive (../shared/data), as JSON.

    python benchmarks/bench_import.py [--src DIR] [--repeats 3]

Each configuration runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.
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

DEFAULT_SRC = Path(__file__).resolve().parents[2] / "shared" / "data" / "udacity-sim" / "track1_stay_center"

CHILD = r"""
import json, resource, sys, time
from timesteer.data import ImportConfig, import_recording
src, dest, size, camera = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
size = None if size == "full" else tuple(int(v) for v in size.split("x"))
t0 = time.perf_counter()
path = import_recording(ImportConfig("udacity-sim", src, dest, size=size, camera=camera, progress=False))
seconds = time.perf_counter() - t0
from timesteer.data import Recording
rec = Recording.open(path)
frames = len(rec) * len(rec.manifest.cameras)
print(json.dumps({"seconds": seconds, "frames": frames,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(src: Path, size: str, camera: str, repeats: int) -> dict:
    results = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", CHILD, str(src), f"{tmp}/rec", size, camera],
                                 capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout))
    best = min(results, key=lambda r: r["seconds"])
    return {"size": size, "camera": camera, "frames": best["frames"],
            "frames_per_s": round(best["frames"] / best["seconds"], 1),
            "seconds": round(best["seconds"], 3),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in results), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = [run(args.src, size, camera, args.repeats)
            for size, camera in (("66x200", "center"), ("full", "center"), ("66x200", "all"))]
    print(json.dumps({"benchmark": "import", "src": str(args.src), "cpus": os.cpu_count(),
                      "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
