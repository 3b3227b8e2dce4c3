"""A forward camera's picture as the car would see it pushed aside and turned: NVIDIA's viewpoint shift.

The top-down camera (data/push.py's `move_car`) sees the ground as a map, so a push moves the map. A
dashcam sees the road in perspective; moving its picture needs where it sits and how it projects
(`manifest.DashcamView`). As NVIDIA did for PilotNet's shifted and rotated views (Bojarski et al. 2016,
"viewpoint transformation"), every pixel below the horizon is taken to lie on a flat ground and every
pixel above it to be far away: a ray of the moved camera is followed to the ground, the ground point
carried back into the car's old frame and projected into the old picture; a ray above the horizon is
only turned. Things standing on the road (other robots, signs, walls) are drawn as if painted on it,
which is the method's known distortion; lane markings, what a lane follower reads, are on the ground.
Where the moved camera sees what the old one did not, the picture's border is repeated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from timesteer.data.manifest import DashcamView, FrameGeometry

if TYPE_CHECKING:
    from torch import Tensor

# Rays closer to the horizon than this (the tangent of the angle below it) count as above it: a ground
# point that far (height / 0.002, 54 m for Duckietown's 11-cm camera) is where the horizon is anyway.
HORIZON_TAN = 2e-3


@dataclass(frozen=True)
class DashcamInFrame:
    """A `DashcamView` in the stored frame's pixels (after the recording's crop and resize)."""

    focal_row_px: float
    focal_col_px: float
    centre_row: float
    centre_col: float
    height_m: float
    ahead_m: float
    tilt_down_rad: float
    yaw_rate_per_unit: float
    full_lock: float

    @classmethod
    def of(cls, view: DashcamView, frame: FrameGeometry) -> DashcamInFrame:
        src_h = frame.source_height or frame.height
        src_w = frame.source_width or frame.width
        sy = frame.height / max(1, src_h - frame.crop_top - frame.crop_bottom)
        sx = frame.width / src_w
        return cls(view.focal_px * sy, view.focal_px * sx, (view.centre_row_px + 0.5 - frame.crop_top) * sy - 0.5,
                   (view.centre_col_px + 0.5) * sx - 0.5, view.height_m, view.ahead_m, view.tilt_down_rad,
                   view.yaw_rate_per_unit, view.full_lock)

    def move(self, frames: Tensor, offset_m: Tensor, heading_rad: Tensor) -> Tensor:
        return move_dashcam(frames, offset_m, heading_rad, self)


def dashcam_of_stored_frames(view: DashcamView, frame: FrameGeometry) -> DashcamView:
    """The same view with the stored frames as its source (their pixels are square only if the resize kept
    the aspect; the focal length kept is the rows')."""
    v = DashcamInFrame.of(view, frame)
    return DashcamView(v.focal_row_px, v.centre_row, v.centre_col, v.height_m, v.ahead_m, v.tilt_down_rad,
                       v.yaw_rate_per_unit, v.full_lock)


def move_dashcam(frames: Tensor, offset_m: Tensor, heading_rad: Tensor, view: DashcamInFrame) -> Tensor:
    """(B, T, C, H, W) frames as the car would see them `offset_m` to the right of where it was and turned
    `heading_rad` to the right (both (B, T)), about its centre of rotation."""
    import torch
    import torch.nn.functional as F

    b, t, c, h, w = frames.shape
    dev, dtype = frames.device, torch.float64  # the ground point of a ray near the horizon is far: doubles
    rows = torch.arange(h, device=dev, dtype=dtype).view(1, h, 1)
    cols = torch.arange(w, device=dev, dtype=dtype).view(1, 1, w)
    sin_t, cos_t = math.sin(view.tilt_down_rad), math.cos(view.tilt_down_rad)
    # The new camera's rays in the car's frame (x right, y up, z ahead): right + up * v + forward * 1.
    x_cam = (cols - view.centre_col) / view.focal_col_px
    y_cam = -(rows - view.centre_row) / view.focal_row_px
    ray_x = x_cam.expand(1, h, w)
    ray_y = (y_cam * cos_t - sin_t).expand(1, h, w)  # forward (0, -sin, cos), up (0, cos, sin)
    ray_z = (y_cam * sin_t + cos_t).expand(1, h, w)
    ground = ray_y < -HORIZON_TAN * torch.sqrt(ray_x**2 + ray_z**2)
    reach = view.height_m / torch.where(ground, -ray_y, torch.ones_like(ray_y))
    cos = torch.cos(heading_rad).to(dtype).reshape(-1, 1, 1)
    sin = torch.sin(heading_rad).to(dtype).reshape(-1, 1, 1)
    offset = offset_m.to(dtype).reshape(-1, 1, 1)
    # Below the horizon: the ground point, moved into the old frame (the car turned right by the heading:
    # what is ahead of it now lay ahead and to the right), seen from the old camera.
    across, ahead = reach * ray_x, view.ahead_m + reach * ray_z
    old_x = offset + across * cos + ahead * sin
    old_z = -across * sin + ahead * cos - view.ahead_m
    old_y = torch.full_like(old_x, -view.height_m)
    # Above it: a direction only, turned.
    dir_x = ray_x * cos + ray_z * sin
    dir_z = -ray_x * sin + ray_z * cos
    px = torch.where(ground, old_x, dir_x)
    py = torch.where(ground, old_y, ray_y.expand_as(old_y))
    pz = torch.where(ground, old_z, dir_z)
    forward = -py * sin_t + pz * cos_t
    up = py * cos_t + pz * sin_t
    behind = forward <= 1e-6
    forward = torch.where(behind, torch.full_like(forward, 1e-6), forward)
    src_col = view.centre_col + view.focal_col_px * px / forward
    src_row = view.centre_row - view.focal_row_px * up / forward
    src_col = torch.where(behind, torch.full_like(src_col, -1e6), src_col).clamp(-4 * w, 5 * w)
    src_row = torch.where(behind, torch.full_like(src_row, -1e6), src_row).clamp(-4 * h, 5 * h)
    grid = torch.stack([(2 * src_col + 1) / w - 1, (2 * src_row + 1) / h - 1], dim=-1).to(frames.dtype)
    return F.grid_sample(frames.reshape(b * t, c, h, w), grid, mode="bilinear", padding_mode="border",
                         align_corners=False).reshape(b, t, c, h, w)
