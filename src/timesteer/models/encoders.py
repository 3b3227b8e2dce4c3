"""Per-frame encoders: the PilotNet convolution stack (NVIDIA, Bojarski et al. 2016) and its pieces.

PilotNet at 66x200: conv 24, 36, 48 (5x5, stride 2), conv 64, 64 (3x3), flatten 1152, then fully
connected layers. On smaller frames a layer whose kernel no longer fits is padded instead of failing,
so the same model runs on CarRacing's 84x96 and on tiny test frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

# (out channels, kernel, stride) of PilotNet's five convolutions.
PILOTNET_CONVS: tuple[tuple[int, int, int], ...] = ((24, 5, 2), (36, 5, 2), (48, 5, 2), (64, 3, 1), (64, 3, 1))


def conv_stack(in_channels: int, in_hw: tuple[int, int], convs: Sequence[tuple[int, int, int]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    c, (h, w) = in_channels, in_hw
    for out, kernel, stride in convs:
        pad = kernel // 2 if min(h, w) < kernel else 0  # keep going on frames too small for the kernel
        layers += [nn.Conv2d(c, out, kernel, stride, padding=pad), nn.ELU()]
        h = (h + 2 * pad - kernel) // stride + 1
        w = (w + 2 * pad - kernel) // stride + 1
        c = out
    return nn.Sequential(*layers)


def output_shape(module: nn.Module, in_shape: Sequence[int]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(module(torch.zeros(1, *in_shape)).shape[1:])


class ConvEncoder(nn.Module):
    """(N, C, H, W) -> (N, feature_dim): convolutions, flatten, one fully connected layer."""

    def __init__(self, in_shape: Sequence[int], feature_dim: int, dropout: float = 0.0,
                 convs: Sequence[tuple[int, int, int]] = PILOTNET_CONVS) -> None:
        super().__init__()
        c, h, w = in_shape
        self.convs = conv_stack(c, (h, w), convs)
        flat = int(torch.tensor(output_shape(self.convs, in_shape)).prod())
        self.project = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, feature_dim), nn.ELU())
        self.feature_dim = feature_dim

    def forward(self, x: Tensor) -> Tensor:
        # channels-last runs the convolutions about 1.7x faster on CPU (oneDNN).
        x = x.contiguous(memory_format=torch.channels_last)
        return self.project(self.convs(x))  # (N, feature_dim)


class ConvStem(nn.Module):
    """(N, C, H, W) -> (N, C', H', W'): the first convolutions only, for heads that mix frames."""

    def __init__(self, in_shape: Sequence[int], convs: Sequence[tuple[int, int, int]] = PILOTNET_CONVS[:2]) -> None:
        super().__init__()
        self.convs = conv_stack(in_shape[0], (in_shape[1], in_shape[2]), convs)
        self.out_shape = output_shape(self.convs, in_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.convs(x.contiguous(memory_format=torch.channels_last))


class Identity(nn.Module):
    """For heads that need the raw (normalised) frames, such as frame differences."""

    def forward(self, x: Tensor) -> Tensor:
        return x
