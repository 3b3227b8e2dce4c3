"""End to end: `timesteer serve` over loopback, driven like the Udacity simulator drives it.

    python benchmarks/bench_serve.py --data ../shared/data/udacity-sim/track1_stay_center [--seconds 20]

A model (`cnn_gru`, a few training steps on the shared drive imported at 66x200 with the crop: speed
does not depend on skill) is served by `timesteer serve` in its own process, once with each backend.
The client sends the drive's own 320x160 JPEGs in base64, as `42["telemetry", {...}]` with the numbers
as strings, and keeps two request chains going on one connection, as the simulator does (each answer
triggers the next telemetry). It reports the reply latency (send to answer) p50/p99 and messages per
second. The model steps only when a frame at its training rate (11 fps) is due; the others are answered
with the latest steering, as the simulator's pace requires.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def drive(port: int, images: list[str], seconds: float, chains: int) -> dict:
    latencies: list[float] = []
    sent: list[float] = []  # send times of the messages in flight, oldest first (answers come in order)
    k = 0

    def message() -> str:
        nonlocal k
        k += 1
        data = {"steering_angle": "0.0000", "throttle": "0.2000", "speed": "30.1900", "image": images[k % len(images)]}
        return "42" + json.dumps(["telemetry", data])

    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", max_msg_size=0) as ws:
        assert (await ws.receive_str()).startswith("0{")
        for _ in range(chains):
            sent.append(time.perf_counter())
            await ws.send_str(message())
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            msg = await ws.receive_str()
            if msg == "2":
                await ws.send_str("3")
                continue
            if not msg.startswith("42"):
                continue
            latencies.append((time.perf_counter() - sent.pop(0)) * 1e3)
            sent.append(time.perf_counter())
            await ws.send_str(message())
        elapsed = time.perf_counter() - start
    ms = np.asarray(latencies[20:])  # after warm-up
    return {"messages": len(latencies), "messages_per_s": len(latencies) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read() if proc.stderr else "serve exited")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("serve did not start")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a Udacity simulator recording folder (driving_log.csv + IMG/)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    images = [base64.b64encode(f.read_bytes()).decode() for f in sorted(Path(args.data, "IMG").glob("center_*"))[:300]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rec, run = f"{tmp}/rec", f"{tmp}/run"
        subprocess.run([sys.executable, "-m", "timesteer", "import", "udacity-sim", args.data, rec, "--size", "66x200",
                        "--crop", "60,20", "--quiet"], check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "timesteer", "train", "--data", rec, "--out", run, "--model", "cnn_gru",
                        "--epochs", "1", "--max-steps-per-epoch", "2", "--quiet", "--no-tensorboard"], check=True,
                       capture_output=True)
        for backend in ("torch", "onnx"):
            port = free_port()
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            proc = subprocess.Popen([sys.executable, "-m", "timesteer", "serve", run, "--port", str(port), "--backend",
                                     backend, "--threads", str(args.threads)], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            try:
                wait_listening(port, proc)
                result = asyncio.run(drive(port, images, args.seconds, args.chains))
            finally:
                proc.terminate()
                proc.wait()
            rows.append({"backend": backend, **result})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "serve", "frames": "320x160 JPEG", "chains": args.chains, "threads": args.threads,
                      "cpus": os.cpu_count(), "python": platform.python_version(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
