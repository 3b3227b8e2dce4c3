"""`timesteer bench stream RUN`: milliseconds per frame for live steering, carried state versus
re-running a window of T frames every step (what donkeycar's recurrent pilots do)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from timesteer.config import Frames, Range, validate
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.stream.backends import TorchStep
from timesteer.stream.steerer import Steerer
from timesteer.train.run import Which, read_run_info

ROUNDS = 3  # the ways of stepping take turns this many times


@dataclass
class StreamBenchConfig:
    run: str
    frames: Annotated[int, Frames] = 300  # frames timed (after the warm-up)
    window: Annotated[int, Range(1, 1000)] = 10  # frames re-run per step, the donkeycar way
    threads: Annotated[int, Range(1, 256)] = 2
    warmup: Annotated[int, Range(0, 10_000)] = 20
    checkpoint: Which = "best"
    # Where the PyTorch ways run; ONNX Runtime always runs on the CPU (its CPU provider is what ships).
    device: Literal["cpu", "cuda"] = "cpu"
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


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else "CPU"


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


def _time_window(model: Any, frames: np.ndarray, window_frames: int, warmup: int, bar: tqdm) -> list[float]:
    """Re-running the last `window_frames` frames from a fresh state every step; only the last output is used."""
    window: deque[np.ndarray] = deque(maxlen=window_frames)
    device = model.target_mean.device
    ms = []
    with torch.inference_mode():
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            window.append(frame)
            x = torch.from_numpy(np.stack(window)).to(device).permute(0, 3, 1, 2).unsqueeze(0)  # (1, T, C, H, W)
            out, _ = model(x, None)
            float(out[0, -1])  # the steering a driver would use (and, on a GPU, the wait for it)
            if i >= warmup:
                ms.append((time.perf_counter() - t0) * 1e3)
            bar.update(1)
    return ms


def bench_stream(cfg: StreamBenchConfig) -> dict[str, Any]:
    """Milliseconds per frame: carried state in PyTorch (its traced step, and untraced), in ONNX Runtime
    and in ONNX Runtime with int8 convolutions (when the run's recording is there to calibrate it), and
    re-running a window of `window` frames every step (what donkeycar's recurrent pilots do). The ways take
    turns, `ROUNDS` times, so that a machine busy with something else slows them alike."""
    torch.set_num_threads(cfg.threads)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TimesteerError("bench stream --device cuda: no CUDA device is available")
    steerer = Steerer.from_run(cfg.run, cfg.checkpoint, cfg.device)
    model = steerer.model
    assert model is not None
    frames = _frames(cfg.run, model.in_shape, cfg.frames + ROUNDS * cfg.warmup)  # each round warms up
    h, w = frames.shape[1:3]
    eager = steerer.sharing(TorchStep(model, trace=False))  # the step without its trace: what the trace saves
    ways: dict[str, Steerer] = {"torch": steerer, "torch-eager": eager,
                                "onnx": Steerer.from_run(cfg.run, cfg.checkpoint, "cpu", backend="onnx",
                                                         threads=cfg.threads)}
    int8_skipped = None
    try:
        ways["onnx-int8"] = Steerer.from_run(cfg.run, cfg.checkpoint, "cpu", backend="onnx-int8", threads=cfg.threads)
    except TimesteerError as exc:
        int8_skipped = str(exc)
    if cfg.progress:
        print(f"bench stream: {model.name} on {h}x{w} frames, PyTorch on {device_name(cfg.device)}, "
              f"{cfg.threads} threads: {cfg.frames} timed frames "
              f"(after {cfg.warmup} to warm up in each round) with carried state in {', '.join(ways)}, and "
              f"re-running a {cfg.window}-frame window each frame, taking turns {ROUNDS} times", flush=True)
        if int8_skipped:
            print(f"bench stream: no int8 timing: {int8_skipped}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in [*ways, "window"]}
    rounds = np.array_split(np.arange(len(frames)), ROUNDS)
    with tqdm(total=len(times) * len(frames), desc="bench stream", unit="frame", disable=not cfg.progress,
              leave=False) as bar:
        for part in rounds:
            chunk = frames[part]
            warm = min(cfg.warmup, len(chunk) - 1)
            for name, way in ways.items():
                times[name] += _time_steps(way, chunk, warm, bar)
            times["window"] += _time_window(model, chunk, cfg.window, warm, bar)
    p50, p99 = _percentiles(times["torch"])
    o50, o99 = _percentiles(times["onnx"])
    w50, w99 = _percentiles(times["window"])
    result = {"run": cfg.run, "model": model.name, "frame_shape": list(frames.shape[1:]), "threads": cfg.threads,
              "device": cfg.device, "device_name": device_name(cfg.device),
              "frames": len(times["torch"]), "p50_ms": p50, "p99_ms": p99, "onnx_p50_ms": o50, "onnx_p99_ms": o99,
              "onnx_int8_p50_ms": None, "onnx_int8_p99_ms": None, "int8_skipped": int8_skipped,
              "window": cfg.window, "window_p50_ms": w50, "window_p99_ms": w99, "speedup": w50 / p50}
    result["eager_p50_ms"], result["eager_p99_ms"] = _percentiles(times["torch-eager"])
    if "onnx-int8" in times:
        result["onnx_int8_p50_ms"], result["onnx_int8_p99_ms"] = _percentiles(times["onnx-int8"])
    return result


def format_bench(r: dict[str, Any]) -> str:
    h, w = r["frame_shape"][:2]
    if r.get("onnx_int8_p50_ms") is not None:
        int8 = f"carried state, ONNX int8     p50 {r['onnx_int8_p50_ms']:.2f} ms   p99 {r['onnx_int8_p99_ms']:.2f} ms\n"
    else:
        int8 = f"carried state, ONNX int8     not timed ({r['int8_skipped']})\n"
    return (f"{r['model']} on {h}x{w}, {r['threads']} threads, {r['frames']} frames\n"
            f"PyTorch on {r.get('device_name', 'CPU')}, ONNX Runtime on the CPU\n"
            f"carried state, PyTorch       p50 {r['p50_ms']:.2f} ms   p99 {r['p99_ms']:.2f} ms\n"
            f"  the same step, untraced    p50 {r['eager_p50_ms']:.2f} ms   p99 {r['eager_p99_ms']:.2f} ms\n"
            f"carried state, ONNX Runtime  p50 {r['onnx_p50_ms']:.2f} ms   p99 {r['onnx_p99_ms']:.2f} ms\n"
            f"{int8}"
            f"re-run {r['window']:>2}-frame window       p50 {r['window_p50_ms']:.2f} ms   "
            f"p99 {r['window_p99_ms']:.2f} ms\n"
            f"carried state (PyTorch) is {r['speedup']:.1f}x faster than re-running the window")
