"""`timesteer explain RUN --data REC --out DIR`: see through time.

- How far back does it look? `influence.png` and, in `explain.json`, `influence_by_lag` (lag in frames
  and seconds; mean change of the steering when frame t-k is replaced by the frame before it, or by the
  drive's mean frame) and `memory_horizon_s` (evaluate/through_time.py).
- Where does it look? `visualbackprop.mp4`: the frames with VisualBackProp's mask over them, NVIDIA's
  picture of which pixels steer the car (evaluate/backprop.py).
- What do its gates do? `gates.png`: the mean update (GRU) or forget (LSTM) gate activity along the
  drive, under the steering.
- How does the gradient reach back in training? `gradient_through_time.png`, when the run was trained
  with `--grad-through-time`.
The report page has these in its section "How far back it looks, and where".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import av
import numpy as np
from PIL import Image, ImageDraw

from timesteer.config import Range, validate
from timesteer.data import Recording
from timesteer.data.commands import previous_commands
from timesteer.data.distance import assumes_training_speed, distances_for
from timesteer.evaluate.backprop import VisualBackProp, has_convolutions
from timesteer.evaluate.plots import plot_gates, plot_gradient_through_time, plot_influence
from timesteer.evaluate.runner import check_run_matches, choose_spans
from timesteer.evaluate.shortcut import format_shortcut, shortcut_test
from timesteer.evaluate.through_time import gate_activity, temporal_influence
from timesteer.evaluate.video import MODEL, _font
from timesteer.files import fresh_directory, write_json
from timesteer.train.run import LoadedRun, Which, load_run

EXPLAIN_MARKER = ".timesteer-explain"


@dataclass
class ExplainConfig:
    run: str
    data: str
    out: str
    split: str = "val"
    # Lags measured, in seconds of frames; a minute is past any model's memory (openpilot keeps ~5 s).
    max_lag_s: Annotated[float, Range(0, 60, open_min=True)] = 3.0
    video_seconds: Annotated[float, Range(0, 3600, open_min=True)] = 30.0  # longest VisualBackProp video
    checkpoint: Which = "best"
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)


def gradient_curve(run: LoadedRun) -> np.ndarray | None:
    """The last epoch's gradient-through-time curve from metrics.csv, when the run measured it."""
    import csv

    path = run.path / "metrics.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("grad_through_time")]
    if not rows:
        return None
    return np.asarray([float(v) for v in rows[-1]["grad_through_time"].split()])


def analyse(run: LoadedRun, rec: Recording, out: Path, split: str = "val", max_lag_s: float = 3.0,
            video_seconds: float | None = 30.0, progress: bool = True) -> dict[str, Any]:
    """Write the figures and video into `out` (an existing directory); returns the JSON summary."""
    check_run_matches(run, rec)
    spans = choose_spans(run, rec, split)
    camera = run.data.camera
    frames = rec.camera_frames(camera if any(c.name == camera for c in rec.manifest.cameras) else None)
    fps = rec.manifest.fps
    model = run.model
    max_lag = max(1, round(max_lag_s * fps))
    distances = distances_for(model, rec)
    influence = temporal_influence(model, frames, spans, max_lag, distances=distances)
    horizon = influence.horizon_frames()
    summary: dict[str, Any] = {
        "run": str(run.path), "model": model.name, "data": str(rec.path), "split": split, "fps": fps,
        "frames": sum(b - a for a, b in spans), "positions": influence.positions,
        "unit": rec.manifest.steering.unit,
        "influence_by_lag": [{"lag_frames": int(k), "lag_s": round(k / fps, 4), "previous": float(p),
                              "mean_frame": float(m)}
                             for k, p, m in zip(influence.lags, influence.previous, influence.mean_frame,
                                                strict=True)],
        "memory_horizon_frames": horizon, "memory_horizon_s": round(horizon / fps, 4),
        "figures": {},
    }
    summary["shortcut"] = shortcut_test(model, frames, spans, rec.steering, previous_commands(rec), distances)
    # No speed recorded for a per-distance model: it ran at its training's distance per frame, so the 2x and
    # 0.5x replays were not told their speed either (as live when nobody tells it).
    summary["speed_assumed"] = assumes_training_speed(model, rec)
    summary["figures"]["influence"] = plot_influence(influence, fps, model.name, summary["unit"],
                                                     out / "influence.png").name
    gates = gate_activity(model, frames, spans, distances=distances)
    if gates is not None:
        idx = np.concatenate([np.arange(a, b) for a, b in spans])
        from timesteer.train.predict import predict_spans

        pred = predict_spans(model, frames, spans, commands=previous_commands(rec),
                             distances=distances)[:, 0]
        kind = "update gate z" if "gru" in model.name else "forget gate f"
        summary["gate"] = {"kind": kind, "mean": float(np.mean(gates)), "std": float(np.std(gates))}
        summary["figures"]["gates"] = plot_gates(rec.timestamps_s[idx], rec.steering[idx], pred, gates, kind,
                                                 model.name, out / "gates.png").name
    curve = gradient_curve(run)
    if curve is not None:
        summary["grad_through_time"] = [float(v) for v in curve]
        summary["figures"]["gradient_through_time"] = plot_gradient_through_time(
            {model.name: curve}, out / "gradient_through_time.png").name
    if has_convolutions(model):
        video = write_backprop_video(out / "visualbackprop.mp4", model, frames, spans, fps, video_seconds, progress)
        summary["figures"]["visualbackprop"] = video.name
    else:  # `mean` looks at no pixel: there is nothing to show
        summary["visualbackprop"] = f"{model.name} has no convolution layer: it does not look at the picture"
    return summary


def explain(cfg: ExplainConfig) -> dict[str, Any]:
    run = load_run(cfg.run, cfg.checkpoint, "cpu")
    rec = Recording.open(cfg.data)
    with fresh_directory(cfg.out, EXPLAIN_MARKER, "explanation", inputs=(run.path, run.checkpoint, rec.path)) as tmp:
        summary = analyse(run, rec, tmp, cfg.split, cfg.max_lag_s, cfg.video_seconds, cfg.progress)
        write_json(tmp / "explain.json", summary)
    summary["out"] = str(Path(cfg.out))
    return summary


def write_backprop_video(path: Path, model: Any, frames: np.ndarray, spans: list[tuple[int, int]], fps: float,
                         seconds: float | None, progress: bool = True, scale: int = 3) -> Path:
    """The drive (up to `seconds` of its first spans) with VisualBackProp's mask in orange over each frame."""
    vbp = VisualBackProp(model)
    limit = math.inf if seconds is None else max(1, int(seconds * fps))
    h, w = frames.shape[1:3]
    width, height = (w * scale) // 2 * 2, (h * scale) // 2 * 2 + 28
    font = _font(14)
    rate = Fraction(fps).limit_denominator(1000) if fps > 0 else Fraction(10)
    written = 0
    try:
        with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "23", "preset": "veryfast"}
            for a, b in spans:
                state = None
                for i in range(a, b):
                    if written >= limit:
                        break
                    frame = np.asarray(frames[i])
                    mask, steer, state = vbp.step(frame, state)
                    tint = np.asarray(MODEL, dtype=np.float32)
                    blend = frame.astype(np.float32) * (1 - 0.6 * mask[..., None]) + tint * 0.6 * mask[..., None]
                    canvas = Image.new("RGB", (width, height), (255, 255, 255))
                    canvas.paste(Image.fromarray(blend.clip(0, 255).astype(np.uint8)).resize(
                        (width, height - 28), Image.Resampling.NEAREST), (0, 0))
                    ImageDraw.Draw(canvas).text((6, height - 22), f"frame {i}   steering {steer:+.3f}   "
                                                f"VisualBackProp: where the network found its features",
                                                fill=(40, 40, 40), font=font)
                    for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                        container.mux(packet)
                    written += 1
            for packet in stream.encode():
                container.mux(packet)
    finally:
        vbp.close()
    return path


def format_explain(s: dict[str, Any]) -> str:
    lines = [f"{s['model']} on {s['frames']} frames of {s['data']} ({s['split']} split, {s['fps']:.3g} fps)",
             f"memory horizon  {s['memory_horizon_frames']} frames = {s['memory_horizon_s']:.2f} s "
             f"(the steering still moves by 10% of the peak when a frame this old is replaced)",
             "lag (frames)  " + " ".join(f"{r['lag_frames']:>6d}" for r in s["influence_by_lag"][:12]),
             "  previous    " + " ".join(f"{r['previous']:>6.4f}" for r in s["influence_by_lag"][:12]),
             "  mean frame  " + " ".join(f"{r['mean_frame']:>6.4f}" for r in s["influence_by_lag"][:12])]
    lines.append(format_shortcut(s["shortcut"]))
    if s.get("speed_assumed"):
        lines.append("speed: none recorded; the model assumed its training's distance per frame throughout, the "
                     "replays included")
    if "gate" in s:
        lines.append(f"{s['gate']['kind']}: mean {s['gate']['mean']:.3f} (sd {s['gate']['std']:.3f})")
    lines.append(f"figures in {s.get('out', '')}: {', '.join(s['figures'].values())}")
    return "\n".join(lines)
