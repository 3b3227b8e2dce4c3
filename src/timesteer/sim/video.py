"""MP4 of a closed-loop drive: what the model saw, enlarged, with its steering and the expert's."""

from __future__ import annotations

import os
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from timesteer.evaluate.video import HUMAN, MODEL, _font

SCALE = 5


def write_drive_video(path: Path, frames: list[np.ndarray], model_rad: list[float], expert_rad: list[float],
                      fps: float, max_rad: float = 0.4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.mp4")  # renamed into place when whole
    try:
        _encode(tmp, frames, model_rad, expert_rad, fps, max_rad)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _encode(path: Path, frames: list[np.ndarray], model_rad: list[float], expert_rad: list[float], fps: float,
            max_rad: float) -> None:
    h, w = frames[0].shape[:2]
    width, view_h = w * SCALE, h * SCALE
    height = view_h + 60
    font = _font(15)
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame, m, e in zip(frames, model_rad, expert_rad, strict=True):
            canvas = Image.new("RGB", (width, height), (255, 255, 255))
            canvas.paste(Image.fromarray(frame).resize((width, view_h), Image.Resampling.NEAREST), (0, 0))
            d = ImageDraw.Draw(canvas)
            mid = width // 2
            d.line([mid, view_h + 8, mid, view_h + 34], fill=(160, 160, 160), width=1)
            for value, color, y in ((e, HUMAN, view_h + 12), (m, MODEL, view_h + 26)):
                x = mid + np.clip(value / max_rad, -1, 1) * (width / 2 - 10)
                d.rectangle([min(mid, x), y - 5, max(mid, x), y + 5], fill=color)
            d.text((8, view_h + 40), f"model {m:+.3f} rad   expert {e:+.3f} rad", fill=(40, 40, 40), font=font)
            for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
