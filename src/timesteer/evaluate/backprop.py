"""VisualBackProp (Bojarski et al., NVIDIA 2016): which pixels a convolutional steering model steers by.

For one frame, every convolution layer's feature maps (rectified) are averaged over channels. Starting
from the deepest, the average is scaled up to the layer below with a deconvolution of the layer's own
kernel size and stride (weights all one) and multiplied point by point with that layer's average, down
to the input: what survives is where the network found features that reached its deepest layer. NVIDIA
used it to show that PilotNet looks at lane edges. Here it works on every convolutional encoder: the
PilotNet stack (on one frame, or on a frame stacked with its differences) and the Komanda stem + 3D
convolution + convolutions of `conv3d_lstm`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from timesteer.models import SteeringModel


def _spatial(module: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    k, s, p = module.kernel_size, module.stride, module.padding
    if isinstance(module, nn.Conv3d):  # (time, h, w): keep the spatial part
        return (k[1], k[2]), (s[1], s[2]), (p[1], p[2])
    return tuple(k), tuple(s), tuple(p)  # type: ignore[return-value]


def _resize(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop or zero-pad (N, 1, h, w) to `size` (a deconvolution may be a pixel off)."""
    h, w = size
    m = m[..., :h, :w]
    return F.pad(m, (0, w - m.shape[-1], 0, h - m.shape[-2]))


def has_convolutions(model: nn.Module) -> bool:
    """Whether VisualBackProp has anything to show: it follows features back through convolutions."""
    return any(isinstance(m, nn.Conv2d | nn.Conv3d) for m in model.modules())


class VisualBackProp:
    """Masks in [0, 1] of the size of the model's input frames, one per frame, state carried."""

    def __init__(self, model: SteeringModel) -> None:
        self.model = model.eval()
        self.convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv3d)]
        if not self.convs:
            raise ValueError(f"{model.name} has no convolution layer")
        self._acts: list[tuple[nn.Module, torch.Tensor]] = []
        self._hooks = [c.register_forward_hook(self._keep) for c in self.convs]

    def _keep(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = output
        if x.dim() == 5:  # (N, C, T, h, w): the newest frame's slice
            x = x[:, :, -1]
        self._acts.append((module, F.relu(x.float()).mean(dim=1, keepdim=True)))  # (N, 1, h, w)

    def close(self) -> None:
        for h in self._hooks:
            h.remove()

    @torch.inference_mode()
    def step(self, frame: np.ndarray, state: tuple | None) -> tuple[np.ndarray, float, tuple]:
        """(mask (H, W), steering, new state) for one working frame (H, W, 3) uint8."""
        self._acts.clear()
        x = torch.from_numpy(np.array(frame, dtype=np.uint8)).to(self.model.target_mean.device)
        out, state = self.model(x.permute(2, 0, 1)[None, None], state)
        # Keep each layer's last call for this frame (a layer may run on history frames too).
        acts: list[tuple[nn.Module, torch.Tensor]] = []
        for module, act in self._acts:
            if acts and acts[-1][0] is module:
                acts[-1] = (module, act)
            else:
                acts.append((module, act[-1:]))
        mask = acts[-1][1]
        for (module, _), (_, below) in zip(reversed(acts[1:]), reversed(acts[:-1]), strict=True):
            mask = self._up(mask, module, below.shape[-2:]) * below
        mask = self._up(mask, acts[0][0], frame.shape[:2])
        m = mask[0, 0].cpu().numpy()
        lo, hi = float(m.min()), float(m.max())
        return ((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)), float(out[0, 0]), state

    @staticmethod
    def _up(mask: torch.Tensor, module: nn.Module, size: tuple[int, int]) -> torch.Tensor:
        kernel, stride, padding = _spatial(module)
        ones = torch.ones(1, 1, *kernel, device=mask.device)
        return _resize(F.conv_transpose2d(mask, ones, stride=stride, padding=padding), tuple(size))

    def masks(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masks (T, H, W) and steering (T,) for consecutive frames of one drive."""
        state, masks, steer = None, [], []
        for frame in frames:
            m, y, state = self.step(np.asarray(frame), state)
            masks.append(m)
            steer.append(y)
        return np.stack(masks), np.asarray(steer)
