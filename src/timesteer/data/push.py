"""Pushes in the picture: a clean drive made to look pushed, labelled as a driver who corrects it would steer.

A model that sees time and learned only from clean driving reads its own recent motion as the answer
(the copycat problem, BENCHMARKS.md): in a clean recording the car turns only because the driver steered,
so "the car is turning right" always comes with "steer right". Under a push (a gust, a rut, a nudge on the
wheel) that is exactly wrong: the car turns right *because of the push*, and the driver must steer left.
A camera-only driver can tell a push only from how the car moves, so a model can learn to counter one only
from histories that hold pushes. Users record clean driving; this makes the pushes in training instead:

* per lane (a sequence whose state is carried), pushes start at random, `rate_hz` a second on average,
  each a steering offset of up to `lock` of the car's full lock (at least 40% of that, either side)
  lasting 0.2-0.8 s, as the simulators' own pushes (sim/conditions.py) are sized;
* the picture turns and slides as the car would (a kinematic bicycle: heading rate v x tan(u) / wheelbase;
  or, for a car steered by a yaw command like Duckietown's, heading rate k x u; sideways speed
  v x heading, v the frame's recorded speed) while the driver has not reacted (a delay
  drawn up to `react_s`), then returns, critically damped over about `recover_s`, as the driver brings
  the car back;
* the label, at every frame of it, is what a driver who knew the push would steer: the recorded
  steering, minus the push, plus what brings the heading and the sideways offset back.

This is DART's lesson (Laskey et al. 2017: inject noise while the expert drives so that the data shows
recoveries) and NVIDIA's shifted views (Bojarski et al. 2016: move the camera in the picture and correct
the label), made to happen over time, as ChauffeurNet's perturbed trajectories (Bansal et al. 2018) do.
It needs the camera's geometry (`manifest.TopDownView`, which `record-sim` writes for CarRacing, or a
forward camera's `manifest.DashcamView`, for Duckietown, moved by data/dashcam.py) and the recording's
`speed`. Steering is taken as positive to the right (timesteer's convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from timesteer.data.dashcam import DashcamInFrame
from timesteer.data.manifest import FrameGeometry, TopDownView

if TYPE_CHECKING:
    from torch import Tensor

    from timesteer.data.augment import AugmentConfig

PUSH_S = (0.2, 0.8)  # how long a push lasts, drawn uniformly
# A lane starts in the middle of a drive, so its car may already be pushed: its pushes begin this many
# mean gaps between pushes before its first frame (single-frame models, whose every lane starts afresh
# at each step, see pushed pictures only thanks to this).
BURN_IN_GAPS, MAX_BURN_IN_S = 2.0, 10.0
MIN_SPEED_MPS = 1.0  # below this a push barely turns the car; the correction's gains are held at this speed


@dataclass(frozen=True)
class ViewInFrame:
    """A `TopDownView` in the stored frame's pixels (after the recording's crop and resize)."""

    pivot_row: float
    pivot_col: float
    px_per_m_across: float
    px_per_m_along: float
    wheelbase_m: float
    fixed: tuple[int, int, int, int] | None  # rows [top, bottom), columns [left, right); None: nothing fixed
    full_lock: float = 0.4  # rad

    def move(self, frames: Tensor, offset_m: Tensor, heading_rad: Tensor) -> Tensor:
        return move_car(frames, offset_m, heading_rad, self)

    @classmethod
    def of(cls, view: TopDownView, frame: FrameGeometry) -> ViewInFrame:
        src_h = frame.source_height or frame.height
        src_w = frame.source_width or frame.width
        sy = frame.height / max(1, src_h - frame.crop_top - frame.crop_bottom)
        sx = frame.width / src_w

        def row(r: float) -> float:  # pixel-centre coordinates scale about the pixel edges
            return (r + 0.5 - frame.crop_top) * sy - 0.5

        def col(c: float) -> float:
            return (c + 0.5) * sx - 0.5

        fixed = None
        if view.fixed_px is not None:
            top, bottom, left, right = view.fixed_px
            fixed = (max(0, math.floor((top - frame.crop_top) * sy)),
                     min(frame.height, math.ceil((bottom - frame.crop_top) * sy)),
                     max(0, math.floor(left * sx)), min(frame.width, math.ceil(right * sx)))
            if fixed[0] >= fixed[1] or fixed[2] >= fixed[3]:
                fixed = None  # cropped away
        return cls(row(view.pivot_row_px), col(view.pivot_col_px), view.px_per_m_across * sx,
                   view.px_per_m_along * sy, view.wheelbase_m, fixed, view.full_lock_rad)


def view_of_stored_frames(view: TopDownView, frame: FrameGeometry) -> TopDownView:
    """The same view with the stored frames as its source (what an export that writes the stored frames keeps)."""
    v = ViewInFrame.of(view, frame)
    return TopDownView(v.pivot_row, v.pivot_col, v.px_per_m_across, v.px_per_m_along, v.wheelbase_m, v.fixed,
                       v.full_lock)


class PushTracks:
    """Each lane's push, frame by frame from the lane's start: the car's sideways offset (m, + right), its
    heading (rad, + turned right) and the label's correction (in the push's unit: radians for a bicycle, the
    command's own for a yaw command), kept for every frame it has reached. The car answers a command at once
    (Duckietown's motors take about 0.3 s to reach a new yaw rate: left out, as a driver's reaction is drawn anyway)."""

    def __init__(self, lanes: int, rate_hz: float, steer: float, react_s: float, recover_s: float,
                 frame_period_s: float, wheelbase_m: float | None, yaw_rate_per_unit: float | None = None) -> None:
        """`steer`: the largest push, in the car's steering unit (radians for a bicycle). The car turns as a
        bicycle of `wheelbase_m`, or, given `yaw_rate_per_unit` instead, at that many rad/s per unit."""
        if (wheelbase_m is None) == (yaw_rate_per_unit is None):
            raise ValueError("a car turns by its wheelbase or by a yaw rate per unit, one of the two")
        self.rate_hz, self.steer, self.react_s = rate_hz, steer, react_s
        self.omega = 1.0 / recover_s  # the driver's return: critically damped at this rate
        self.dt = frame_period_s
        self.wheelbase_m, self.yaw_rate_per_unit = wheelbase_m, yaw_rate_per_unit
        # Per lane (frames, 3): offset, heading, correction, from the burn-in's first frame on.
        self.tracks: list[np.ndarray] = [np.zeros((0, 3)) for _ in range(lanes)]
        self.state: list[dict[str, float]] = [{} for _ in range(lanes)]
        self.rngs: list[np.random.Generator] = [np.random.default_rng(0) for _ in range(lanes)]

    @property
    def burn_in(self) -> int:
        """Frames of pushes before a lane's first frame."""
        return math.ceil(min(BURN_IN_GAPS / self.rate_hz, MAX_BURN_IN_S) / self.dt)

    def restart(self, lanes: np.ndarray, rng: np.random.Generator) -> None:
        """Lanes starting a new sequence start afresh, with their own draws from `rng`."""
        for lane in np.flatnonzero(lanes):
            self.tracks[lane] = np.zeros((0, 3))
            self.state[lane] = {"offset": 0.0, "heading": 0.0, "push": 0.0, "left": 0.0, "react": 0.0,
                                "wait": float(rng.exponential(1 / self.rate_hz))}
            self.rngs[lane] = np.random.default_rng(int(rng.integers(2**63)))

    def at(self, lane: int, positions: np.ndarray, speeds_mps: np.ndarray) -> np.ndarray:
        """(len(positions), 3): offset, heading and correction at each of the lane's frame positions (0 is
        its first frame; the burn-in's pushes go `burn_in` frames before it, at the first speed asked for;
        before them nothing was pushed). `speeds_mps`: the speed at each position."""
        burn = self.burn_in
        if not len(self.tracks[lane]):
            self.tracks[lane] = np.asarray([self._step(lane, float(speeds_mps[0])) for _ in range(burn)])
        have = len(self.tracks[lane]) - burn  # positions reached so far: -burn .. have - 1
        top = int(positions.max()) if len(positions) else -burn
        if top >= have:  # every position up to the furthest asked for, each at its speed (or the last known)
            speed_at = dict(zip(positions.tolist(), speeds_mps.tolist(), strict=True))
            v, rows = float(speeds_mps[0]), []
            for p in range(have, top + 1):
                v = speed_at.get(p, v)
                rows.append(self._step(lane, v))
            self.tracks[lane] = np.concatenate([self.tracks[lane], np.asarray(rows)])
        out = np.zeros((len(positions), 3))
        inside = positions >= -burn
        out[inside] = self.tracks[lane][positions[inside] + burn]
        return out

    def _step(self, lane: int, speed_mps: float) -> tuple[float, float, float]:
        """This frame's (offset, heading, correction), then the state moves on by one frame period."""
        s, rng, dt = self.state[lane], self.rngs[lane], self.dt
        v = max(abs(speed_mps), MIN_SPEED_MPS)
        if s["left"] <= 0:
            s["push"] = 0.0
            s["wait"] -= dt
            if s["wait"] <= 0:  # a push starts
                s["push"] = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0) * self.steer)
                s["left"] = float(rng.uniform(*PUSH_S))
                s["react"] = float(rng.uniform(0.0, self.react_s))
                s["wait"] = float(rng.exponential(1 / self.rate_hz))
        # What brings the car back: heading and offset returned together, critically damped at omega
        # (offset'' = -2 omega offset' - omega^2 offset, with offset' = v heading and heading' = v u / L, or
        # k u for a yaw command).
        w, wheelbase, k = self.omega, self.wheelbase_m, self.yaw_rate_per_unit
        if wheelbase is not None:
            back = -(wheelbase / v**2) * (2 * w * v * s["heading"] + w**2 * s["offset"])
        else:
            back = -(2 * w * v * s["heading"] + w**2 * s["offset"]) / (v * k)
        correction = back - s["push"]
        row = (s["offset"], s["heading"], correction)
        # The car: pushed, uncorrected until the driver reacts; then the push cancelled and the car returning.
        u = s["push"] if s["push"] and s["react"] > 0 else back
        s["offset"] += v * math.sin(s["heading"]) * dt
        s["heading"] += (v * math.tan(u) / wheelbase if wheelbase is not None else k * u) * dt
        s["left"] -= dt
        s["react"] -= dt
        return row


def move_car(frames: Tensor, offset_m: Tensor, heading_rad: Tensor, view: ViewInFrame) -> Tensor:
    """(B, T, C, H, W) frames as the car would see them `offset_m` to the right of where it was and turned
    `heading_rad` to the right (both (B, T)); the `fixed` pixels (drawn on the camera) stay."""
    import torch
    import torch.nn.functional as F

    b, t, c, h, w = frames.shape
    dev, dtype = frames.device, frames.dtype
    rows = torch.arange(h, device=dev, dtype=dtype).view(1, h, 1)
    cols = torch.arange(w, device=dev, dtype=dtype).view(1, 1, w)
    across = (cols - view.pivot_col) / view.px_per_m_across  # metres right of the car, in the new picture
    ahead = -(rows - view.pivot_row) / view.px_per_m_along  # metres ahead
    cos = torch.cos(heading_rad).to(dtype).reshape(-1, 1, 1)
    sin = torch.sin(heading_rad).to(dtype).reshape(-1, 1, 1)
    # The car turned right by the heading: what is straight ahead of it now lay ahead and to the right.
    old_across = offset_m.to(dtype).reshape(-1, 1, 1) + across * cos + ahead * sin
    old_ahead = -across * sin + ahead * cos
    src_col = view.pivot_col + old_across * view.px_per_m_across
    src_row = view.pivot_row - old_ahead * view.px_per_m_along
    grid = torch.stack([(2 * src_col + 1) / w - 1, (2 * src_row + 1) / h - 1], dim=-1)  # (B*T, H, W, 2)
    moved = F.grid_sample(frames.reshape(b * t, c, h, w), grid, mode="bilinear", padding_mode="border",
                          align_corners=False).reshape(b, t, c, h, w)
    if view.fixed is not None:
        top, bottom, left, right = view.fixed
        moved[..., top:bottom, left:right] = frames[..., top:bottom, left:right]
    return moved


@dataclass(frozen=True)
class PushSource:
    """What a training run needs to push its lanes: the view, each bank frame's speed, the frame period and
    the steering unit (a bicycle's pushes and corrections are in radians, a yaw command's in its own unit;
    labels are in the recording's unit: `to_rad` is 1 for a yaw command)."""

    view: ViewInFrame | DashcamInFrame
    speeds_mps: np.ndarray  # (N,) over the whole bank
    frame_period_s: float
    to_rad: float
    lead_frames: int = 0  # labels are this many frames ahead of their pictures (TrainConfig.label_lead_s)
    head_lead_frames: tuple[int, ...] = ()  # the lead heads' labels' (train/lead_heads.py), columns 1, 2, ...

    def tracks(self, lanes: int, cfg: AugmentConfig) -> PushTracks:
        v = self.view
        steer = cfg.push_lock * v.full_lock
        if isinstance(v, ViewInFrame):
            return PushTracks(lanes, cfg.push_rate_hz or 0.0, steer, cfg.push_react_s, cfg.push_recover_s,
                              self.frame_period_s, v.wheelbase_m)
        return PushTracks(lanes, cfg.push_rate_hz or 0.0, steer, cfg.push_react_s, cfg.push_recover_s,
                          self.frame_period_s, None, v.yaw_rate_per_unit)
