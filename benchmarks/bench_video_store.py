"""The video store against raw frames: bytes per frame, decoding speed, training frames/s, validation RMSE.

    python benchmarks/bench_video_store.py --src ../shared/data/udacity-sim/track1_stay_center \
        [--size 66x200 --crop 60,24] [--models pilotnet,cnn_gru] [--seeds 0,1,2] [--epochs 8] \
        [--speed-repeats 2] [--device cpu|cuda] [--threads 2] [--jobs 1]

Imports SRC twice (`--store npy` and `--store video`), then:
- size: bytes per frame of each store and their ratio; the codec's error (mean absolute, PSNR);
- decoding: frames/s reading every frame in order, and random batches as training draws them;
- speed: each model trains `--speed-epochs` epochs on each store, taking turns `--speed-repeats` times
  (the machine's speed drifts; only turns side by side are compared): frames/s after the first epoch,
  data-wait fraction, and video/npy per turn;
- accuracy: each model and seed trains `--epochs` on each store (`--jobs` at a time, one thread each on
  the CPU); the best validation RMSE of each, mean and spread over seeds, and the paired difference.
Prints one JSON object naming the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from machine import cpu_name  # benchmarks/machine.py: scripts run with their own folder on sys.path

CHILD = r"""
import json, sys
from timesteer.train import TrainConfig, train
data, out, model, epochs, seed, device, threads = sys.argv[1:8]
r = train(TrainConfig(data=data, out=out, model=model, epochs=int(epochs), seed=int(seed), threads=int(threads),
                      device=device, progress=False, tensorboard=False))
h = r.history[1:] or r.history
print(json.dumps({"frames_per_s": sum(x["frames_per_s"] for x in h) / len(h),
                  "data_wait_fraction": sum(x["data_wait_fraction"] for x in h) / len(h),
                  "best_val_rmse": r.best_val_rmse}))
"""


def train(data: Path, out: Path, model: str, epochs: int, seed: int, device: str, threads: int) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, str(data), str(out), model, str(epochs), str(seed), device,
                          str(threads)], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{model} on {data.name}: training failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def size_and_decoding(raw_dir: Path, video_dir: Path) -> dict:
    from timesteer.data import Recording

    raw, video = Recording.open(raw_dir), Recording.open(video_dir)
    n = len(raw)
    raw_bytes = (raw_dir / "frames.npy").stat().st_size
    video_bytes = (video_dir / "frames.mp4").stat().st_size
    t0 = time.perf_counter()
    decoded = np.asarray(video.frames)
    in_order_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, n - 20, 32)[:, None] + np.arange(20) for _ in range(10)]  # 32 lanes of 20 frames
    t0 = time.perf_counter()
    for idx in batches:
        video.frames[idx]
    batch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for idx in batches:
        np.asarray(raw.frames[idx])
    batch_raw_s = time.perf_counter() - t0
    err = decoded.astype(np.float32) - np.asarray(raw.frames)
    return {"frames": n, "frame_size": list(raw.frames.shape[1:]),
            "npy_bytes_per_frame": raw_bytes / n, "video_bytes_per_frame": video_bytes / n,
            "npy_over_video": raw_bytes / video_bytes,
            "mean_abs_error": float(np.abs(err).mean()), "psnr_db": float(10 * np.log10(255**2 / np.mean(err**2))),
            "decode_in_order_frames_per_s": n / in_order_s,
            "decode_batches_frames_per_s": sum(i.size for i in batches) / batch_s,
            "npy_batches_frames_per_s": sum(i.size for i in batches) / batch_raw_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", help="a udacity-sim folder")
    p.add_argument("--size", default="66x200")
    p.add_argument("--crop", default="60,24")
    p.add_argument("--models", default="pilotnet,cnn_gru")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=8, help="epochs of each accuracy run")
    p.add_argument("--speed-epochs", type=int, default=3)
    p.add_argument("--speed-repeats", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch threads of a speed run")
    p.add_argument("--jobs", type=int, default=1, help="accuracy runs at a time (one thread each on the CPU)")
    p.add_argument("--work", help="keep the recordings and runs here (default: a temporary folder)")
    p.add_argument("--parts", default="size,speed,accuracy", help="which measurements, comma-separated")
    p.add_argument("--recs", help="a folder already holding rec-npy and rec-video (instead of importing --src)")
    args = p.parse_args()
    import torch

    from timesteer.data import ImportConfig, import_recording
    from timesteer.data.imaging import parse_crop, parse_size

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        recs = {}
        timings = {}
        parts = args.parts.split(",")
        for store in ("npy", "video"):
            recs[store] = Path(args.recs or work) / f"rec-{store}"
            if not recs[store].exists():
                t0 = time.perf_counter()
                import_recording(ImportConfig("udacity-sim", args.src, str(recs[store]), size=parse_size(args.size),
                                              crop=parse_crop(args.crop), store=store, progress=False))
                timings[f"import_{store}_s"] = time.perf_counter() - t0
        size = size_and_decoding(recs["npy"], recs["video"]) if "size" in parts else None
        models = args.models.split(",")
        speed = []
        for repeat in range(args.speed_repeats if "speed" in parts else 0):
            for model in models:
                got = {s: train(recs[s], work / f"speed-{model}-{s}-{repeat}", model, args.speed_epochs, 0,
                                args.device, args.threads) for s in ("npy", "video")}
                speed.append({"model": model, "repeat": repeat,
                              **{f"{s}_{k}": v for s, r in got.items() for k, v in r.items() if k != "best_val_rmse"},
                              "video_over_npy": got["video"]["frames_per_s"] / got["npy"]["frames_per_s"]})
        seeds = [int(s) for s in args.seeds.split(",")]
        jobs = [(m, s, seed) for m in models for seed in seeds for s in ("npy", "video")] if "accuracy" in parts else []
        threads = 1 if args.device == "cpu" and args.jobs > 1 else args.threads
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda j: train(recs[j[1]], work / f"acc-{j[0]}-{j[1]}-{j[2]}", j[0], args.epochs,
                                                    j[2], args.device, threads), jobs))
        rmse = {(m, s, seed): r["best_val_rmse"] for (m, s, seed), r in zip(jobs, results, strict=True)}
        accuracy = []
        for m in models if jobs else []:
            row = {"model": m}
            for s in ("npy", "video"):
                vals = [rmse[(m, s, seed)] for seed in seeds]
                row[f"{s}_rmse"] = vals
                row[f"{s}_mean"] = statistics.mean(vals)
                row[f"{s}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
            diffs = [rmse[(m, "video", seed)] - rmse[(m, "npy", seed)] for seed in seeds]
            row["paired_video_minus_npy"] = diffs
            accuracy.append(row)
    gpu = torch.cuda.get_device_name() if args.device == "cuda" and torch.cuda.is_available() else None
    print(json.dumps({"benchmark": "video_store", "src": args.src, "size": args.size, "crop": args.crop,
                      "cpu": cpu_name(), "cpus": os.cpu_count(), "gpu": gpu, "device": args.device,
                      "torch": torch.__version__, "python": platform.python_version(), "epochs": args.epochs,
                      "speed_epochs": args.speed_epochs, **timings, "store": size, "speed": speed,
                      "accuracy": accuracy}, indent=2))


if __name__ == "__main__":
    main()
