"""Ego-motion from two consecutive frames: how far the picture slid sideways, band by band.

When a car turns, the world slides sideways across a forward camera; far away (the horizon, trees,
hills) the slide is almost pure rotation, so its size per frame is the yaw between the frames, which
is what the wheels were doing. A single frame cannot show it. Measured on the shared Udacity drive
(uncropped, 66x200): a linear fit on these shifts alone, over the last 3 frames, predicts the held-out
steering to RMSE 0.042, where PilotNet on one frame gets about 0.075 (BENCHMARKS.md).

`ShiftFeatures` is FlowNet's correlation layer reduced to one dimension and made parameter-free: for
each of `bands` horizontal bands it compares frame t with frame t-1 slid by -K..K pixels, takes the
best slide (sub-pixel, by a parabola through the best cost and its neighbours) and how clearly it won.
Nothing here is learned and no gradient needs to flow through it (it sees only input pixels); the
operations (slices, abs, mean, argmin, gather) export to ONNX.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# Above this many elements in the slides' difference (16 MB of float32) the slides are taken one by one.
UNFOLD_MAX_ELEMENTS = 1 << 22


class ShiftFeatures(nn.Module):
    """(prev, cur) frames (N, C, H, W), normalised -> (N, 2 * bands): per band the slide of `cur`
    relative to `prev` in pixels (in [-max_shift_px, max_shift_px]), then the match's clarity in [0, 1].

    Slides stay in pixels on purpose: a turn slides the picture by a pixel or a few, so the features are
    of order one, like the CNN's, and a short training can weigh them."""

    def __init__(self, height: int, width: int, bands: int = 8, max_shift_px: int = 8) -> None:
        super().__init__()
        if bands < 1 or max_shift_px < 1:
            raise ValueError(f"bands and max_shift_px must be >= 1, got {bands}, {max_shift_px}")
        self.bands = min(bands, height)
        self.k = max(1, min(max_shift_px, (width - 1) // 4))  # leave at least half the width to compare
        # Band b covers rows [edges[b], edges[b+1]): equal bands, top to bottom.
        edges = [round(i * height / self.bands) for i in range(self.bands + 1)]
        member = torch.zeros(self.bands, height)
        for b in range(self.bands):
            member[b, edges[b] : edges[b + 1]] = 1.0 / max(1, edges[b + 1] - edges[b])
        self.register_buffer("band_rows", member, persistent=False)  # (bands, H) row weights

    @property
    def out_dim(self) -> int:
        return 2 * self.bands

    def costs(self, prev: Tensor, cur: Tensor) -> Tensor:
        """(N, bands, 2K+1) mean absolute difference of each band for slides -K..K."""
        k = self.k
        a = prev.mean(dim=1)  # (N, H, W) grey
        b = cur.mean(dim=1)
        w = a.shape[-1]
        centre = b[..., k : w - k]  # (N, H, W-2K)
        if a.numel() * (2 * k + 1) <= UNFOLD_MAX_ELEMENTS and not torch.onnx.is_in_onnx_export():
            # A live step (a frame or a few): the 2K+1 slides as one strided view, three operations in
            # all instead of 4 x (2K+1) small ones (55-80 us against 240 for a 66x200 frame, 2 threads).
            diff = a.unfold(-1, w - 2 * k, 1) - centre.unsqueeze(-2)  # (N, H, 2K+1, W-2K)
            per_row = diff.abs_().mean(dim=-1)  # (N, H, 2K+1)
        else:
            # Training batches (the view's difference would hold 2K+1 frames' worth per frame) and the
            # ONNX export (the TorchScript exporter gets the unfolded shapes wrong): one slice per slide.
            per_row = torch.stack([(a[..., k + d : w - k + d] - centre).abs().mean(dim=-1)
                                   for d in range(-k, k + 1)], dim=-1)  # (N, H, 2K+1)
        return torch.matmul(self.band_rows, per_row)  # (bands, H) @ (N, H, 2K+1) -> (N, bands, 2K+1)

    @torch.no_grad()
    def forward(self, prev: Tensor, cur: Tensor) -> Tensor:
        c = self.costs(prev.float(), cur.float())  # (N, bands, S)
        s = c.shape[-1]
        j = c.argmin(dim=-1, keepdim=True)  # (N, bands, 1)
        left = c.gather(-1, (j - 1).clamp(0, s - 1))
        mid = c.gather(-1, j)
        right = c.gather(-1, (j + 1).clamp(0, s - 1))
        curve = left - 2 * mid + right
        inside = (j > 0) & (j < s - 1) & (curve > 1e-6)
        sub = torch.where(inside, (left - right) / (2 * curve.clamp_min(1e-6)), torch.zeros_like(mid))
        shift = (j.to(c.dtype) - self.k + sub.clamp(-0.5, 0.5)).squeeze(-1)  # (N, bands) pixels
        # A featureless band (sky of one colour, a blank frame) matches every slide equally: argmin would
        # say -K, a full slide left; say no slide instead (its clarity is 0 either way).
        flat = (c.amax(dim=-1) - c.amin(dim=-1)) <= 1e-6
        shift = torch.where(flat, torch.zeros_like(shift), shift)
        mean = c.mean(dim=-1)
        clarity = ((mean - mid.squeeze(-1)) / (mean + 1e-6)).clamp(0, 1)  # 0: flat costs, 1: one clear slide
        return torch.cat([shift, clarity], dim=-1)  # (N, 2 * bands)
