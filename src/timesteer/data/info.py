"""`timesteer info`: what a recording holds, at a glance or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from timesteer.data.importers.screen import describe
from timesteer.data.recording import Recording


def directory_size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def recording_info(path: str | Path) -> dict[str, Any]:
    rec = Recording.open(path)
    m = rec.manifest
    steer = rec.steering
    info: dict[str, Any] = {
        "path": str(rec.path),
        "source_format": m.source.format,
        "frames": m.frames,
        "duration_s": round(m.duration_s, 3),
        "fps": round(m.fps, 3),
        "segments": len(m.segments),
        "segment_frames": [s.frames for s in m.segments],
        "frame_size": [m.frame.height, m.frame.width, m.frame.channels],
        "cameras": [c.name for c in m.cameras],
        "steering_unit": m.steering.unit,
        "steering_to_rad": m.steering.to_rad,
        "steering_kind": m.steering_kind,
        "steering_mean": float(np.mean(steer)) if len(steer) else 0.0,
        "steering_std": float(np.std(steer)) if len(steer) else 0.0,
        "steering_min": float(np.min(steer)) if len(steer) else 0.0,
        "steering_max": float(np.max(steer)) if len(steer) else 0.0,
        "steering_zero_fraction": float(np.mean(np.abs(steer) < 1e-9)) if len(steer) else 0.0,
        "signals": m.signals,
        "size_bytes": directory_size_bytes(rec.path),
    }
    if rec.has_signal("speed"):
        info["speed_mean"] = float(np.mean(rec.signals["speed"]))
    skipped = m.source.details.get("skipped")
    if isinstance(skipped, dict):
        info["skipped"] = skipped
    return info


def format_info(info: dict[str, Any]) -> str:
    h, w, c = info["frame_size"]
    lines = [
        f"recording   {info['path']}  ({info['source_format']})",
        f"frames      {info['frames']}  over {info['duration_s']:.1f} s at {info['fps']:.2f} fps",
        f"segments    {info['segments']}  (frames: {', '.join(map(str, info['segment_frames'][:12]))}"
        f"{', ...' if info['segments'] > 12 else ''})",
        f"frame size  {h}x{w}x{c}, cameras {', '.join(info['cameras'])}",
        f"steering    {info['steering_unit']}"
        + (f" (x{info['steering_to_rad']:.6g} = rad)" if info["steering_to_rad"] not in (None, 1.0) else "")
        + (f", a {info['steering_kind'].replace('_', ' ')}" if info.get("steering_kind") else "")
        + f": mean {info['steering_mean']:+.4f}  std {info['steering_std']:.4f}  "
          f"min {info['steering_min']:+.4f}  max {info['steering_max']:+.4f}  "
          f"at zero {100 * info['steering_zero_fraction']:.1f}%",
        f"signals     {', '.join(info['signals'])}",
        f"on disk     {info['size_bytes'] / 1e6:.1f} MB",
    ]
    if "skipped" in info:
        lines.append(f"skipped     {describe(info['skipped'])}")
    return "\n".join(lines)
