"""`timesteer bench stream RUN`: milliseconds per frame for live steering, carried state versus
re-running a window of T frames every step (what donkeycar's recurrent pilots do)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from tqdm import tqdm

from timesteer.config import AtLeastOne, NonNegative, validate
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.stream.steerer import Steerer
from timesteer.train.run import Which, read_run_info


@dataclass
class StreamBenchConfig:
    run: str
    frames: Annotated[int, AtLeastOne] = 300  # frames timed (after the warm-up)
    window: Annotated[int, AtLeastOne] = 10  # frames re-run per step, the donkeycar way
    threads: Annotated[int, AtLeastOne] = 2
    warmup: Annotated[int, NonNegative] = 20
    checkpoint: Which = "best"
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)


def _frames(run_dir: str, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Real frames from the run's recording when it is still there, else noise of the right shape."""
    try:
        rec = Recording.open(read_run_info(run_dir).data.recordings[0].path)
        if len(rec) >= n:
            return np.asarray(rec.frames[:n])
    except TimesteerError:
        pass
    c, h, w = shape
    return np.random.default_rng(0).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _time_steps(steerer: Steerer, frames: np.ndarray, warmup: int, bar: tqdm) -> list[float]:
    steerer.reset()
    ms = []
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        steerer.step_shaped(frame)
        if i >= warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
        bar.update(1)
    return ms


def bench_stream(cfg: StreamBenchConfig) -> dict[str, Any]:
    """Milliseconds per frame: carried state in PyTorch and in ONNX Runtime, and re-running a window of
    `window` frames every step (what donkeycar's recurrent pilots do)."""
    torch.set_num_threads(cfg.threads)
    steerer = Steerer.from_run(cfg.run, cfg.checkpoint, "cpu")
    model = steerer.model
    assert model is not None
    frames = _frames(cfg.run, model.in_shape, cfg.frames + cfg.warmup)
    h, w = frames.shape[1:3]
    if cfg.progress:
        print(f"bench stream: {model.name} on {h}x{w} frames, {cfg.threads} threads: {cfg.frames} timed frames "
              f"(after {cfg.warmup} to warm up) with carried state in PyTorch, then in ONNX Runtime, then "
              f"re-running a {cfg.window}-frame window each frame", flush=True)
    total = 3 * len(frames)
    with tqdm(total=total, desc="bench stream", unit="frame", disable=not cfg.progress, leave=False) as bar:
        carried = _time_steps(steerer, frames, cfg.warmup, bar)
        onnx = Steerer.from_run(cfg.run, cfg.checkpoint, "cpu", backend="onnx", threads=cfg.threads)
        carried_onnx = _time_steps(onnx, frames, cfg.warmup, bar)
        window: deque[np.ndarray] = deque(maxlen=cfg.window)
        rerun = []
        with torch.inference_mode():
            for i, frame in enumerate(frames):
                t0 = time.perf_counter()
                window.append(frame)
                x = torch.from_numpy(np.stack(window)).permute(0, 3, 1, 2).unsqueeze(0)  # (1, T, C, H, W)
                model(x, None)  # fresh state, the whole window again; only the last output is used
                if i >= cfg.warmup:
                    rerun.append((time.perf_counter() - t0) * 1e3)
                bar.update(1)
    p50, p99 = _percentiles(carried)
    o50, o99 = _percentiles(carried_onnx)
    w50, w99 = _percentiles(rerun)
    return {"run": cfg.run, "model": model.name, "frame_shape": list(frames.shape[1:]), "threads": cfg.threads,
            "frames": len(carried), "p50_ms": p50, "p99_ms": p99, "onnx_p50_ms": o50, "onnx_p99_ms": o99,
            "window": cfg.window, "window_p50_ms": w50, "window_p99_ms": w99, "speedup": w50 / p50}


def format_bench(r: dict[str, Any]) -> str:
    h, w = r["frame_shape"][:2]
    return (f"{r['model']} on {h}x{w}, {r['threads']} threads, {r['frames']} frames\n"
            f"carried state, PyTorch       p50 {r['p50_ms']:.2f} ms   p99 {r['p99_ms']:.2f} ms\n"
            f"carried state, ONNX Runtime  p50 {r['onnx_p50_ms']:.2f} ms   p99 {r['onnx_p99_ms']:.2f} ms\n"
            f"re-run {r['window']:>2}-frame window       p50 {r['window_p50_ms']:.2f} ms   "
            f"p99 {r['window_p99_ms']:.2f} ms\n"
            f"carried state (PyTorch) is {r['speedup']:.1f}x faster than re-running the window")
