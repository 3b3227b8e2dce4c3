"""The DeepTesla visualisation: the drive with two steering wheels, the human's and the model's, and a
strip chart of the last seconds; encoded with PyAV as H.264 MP4 that browsers play.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

HUMAN = (43, 138, 62)
MODEL = (232, 89, 12)
STEERING_RATIO = 15.0  # road-wheel to steering-wheel, for drawing only (a typical passenger car)


def wheel_degrees(value: float, unit: str, to_rad: float | None) -> float:
    """How far to turn the drawn steering wheel for a steering value."""
    if unit == "deg_wheel":
        return value
    if to_rad:
        return math.degrees(value * to_rad) * STEERING_RATIO
    return value * 450.0  # normalised [-1, 1] without a known angle: lock to lock as 2.5 turns


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def draw_wheel(draw: ImageDraw.ImageDraw, centre: tuple[int, int], radius: int, degrees: float,
               color: tuple[int, int, int], label: str, value: str, font: ImageFont.ImageFont) -> None:
    cx, cy = centre
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=color, width=max(3, radius // 8))
    hub = radius // 5
    draw.ellipse([cx - hub, cy - hub, cx + hub, cy + hub], fill=color)
    # Three spokes: left, right and down, turned clockwise by the steering angle (positive steers right).
    for spoke in (180.0, 0.0, 90.0):
        a = math.radians(spoke + degrees)
        tip = (cx + radius * math.cos(a), cy + radius * math.sin(a))
        draw.line([cx, cy, *tip], fill=color, width=max(2, radius // 10))
    # A mark at the top of the rim shows the turn beyond a full revolution.
    a = math.radians(-90.0 + degrees)
    draw.ellipse([cx + (radius - 4) * math.cos(a) - 5, cy + (radius - 4) * math.sin(a) - 5,
                  cx + (radius - 4) * math.cos(a) + 5, cy + (radius - 4) * math.sin(a) + 5], fill=(220, 30, 30))
    draw.text((cx, cy + radius + 6), label, fill=color, font=font, anchor="mt")
    draw.text((cx, cy + radius + 24), value, fill=(30, 30, 30), font=font, anchor="mt")


def draw_strip(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], t: np.ndarray, human: np.ndarray,
               model: np.ndarray, now_s: float, window_s: float, scale: float, font: ImageFont.ImageFont) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=(180, 180, 180), fill=(250, 250, 250))
    mid = (y0 + y1) / 2
    draw.line([x0, mid, x1, mid], fill=(210, 210, 210))
    m = (t > now_s - window_s) & (t <= now_s)
    if m.sum() >= 2:
        xs = x0 + (t[m] - (now_s - window_s)) / window_s * (x1 - x0)
        for values, color in ((human, HUMAN), (model, MODEL)):
            ys = mid - np.clip(values[m] / scale, -1, 1) * (y1 - y0) / 2 * 0.9
            draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=color, width=2)
    draw.text((x0 + 4, y0 + 2), f"last {window_s:.0f} s", fill=(90, 90, 90), font=font)


def write_two_wheel_video(path: Path, frames: np.ndarray, indexes: np.ndarray, t: np.ndarray, human: np.ndarray,
                          model: np.ndarray, fps: float, unit: str, to_rad: float | None, width: int = 640,
                          window_s: float = 5.0, progress: bool = True) -> Path:
    """frames: the recording's (N, H, W, C) array; indexes, t, human, model: per video frame."""
    h, w = frames.shape[1:3]
    view_h = round(h * width / w) // 2 * 2
    panel_h = 220
    height = view_h + panel_h
    scale = max(1e-6, float(np.max(np.abs(np.concatenate([human, model])))))
    font = _font(16)
    small = _font(13)
    rate = Fraction(fps).limit_denominator(1000) if fps > 0 else Fraction(10)
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "profile": "high"}
        for k in tqdm(range(len(indexes)), desc="video", unit="frame", leave=False, disable=not progress):
            canvas = Image.new("RGB", (width, height), (255, 255, 255))
            canvas.paste(Image.fromarray(np.asarray(frames[indexes[k]])).resize((width, view_h),
                                                                                Image.Resampling.BILINEAR), (0, 0))
            draw = ImageDraw.Draw(canvas)
            r = 62
            draw_wheel(draw, (90, view_h + 20 + r), r, wheel_degrees(human[k], unit, to_rad), HUMAN, "human",
                       f"{human[k]:+.3f}", font)
            draw_wheel(draw, (250, view_h + 20 + r), r, wheel_degrees(model[k], unit, to_rad), MODEL, "model",
                       f"{model[k]:+.3f}", font)
            draw_strip(draw, (350, view_h + 15, width - 12, height - 40), t, human, model, t[k], window_s, scale,
                       small)
            draw.text((350, height - 30), f"t = {t[k]:.1f} s   steering ({unit})", fill=(60, 60, 60), font=small)
            frame = av.VideoFrame.from_image(canvas)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
