"""On a GPU, training batches are converted and augmented on the device: the same batches as on the CPU.
Needs CUDA (a lent GPU machine); skips elsewhere, CI included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timesteer.data.augment import AugmentConfig
from timesteer.data.windows import Plan
from timesteer.train.batches import BatchStream

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_batches_made_on_the_gpu_equal_those_made_on_the_cpu():
    frames = np.random.default_rng(0).integers(0, 256, (60, 30, 40, 3), dtype=np.uint8)
    left, right = np.random.default_rng(1).integers(0, 256, (2, 60, 30, 40, 3), dtype=np.uint8)
    targets = np.stack([np.linspace(-0.2, 0.2, 60), np.linspace(5, 9, 60)], axis=1).astype(np.float32)
    commands = np.linspace(0.1, 0.5, 60, dtype=np.float32)
    plan = Plan(starts=np.array([[2, 12, 22, 30], [10, 20, 30, 38]]), reset=np.array([[1, 1, 1, 1], [0, 0, 1, 0]],
                                                                                      dtype=bool), seq_len=8, warmup=2)
    aug = AugmentConfig(flip=0.5, shift_px=4, shadow=0.5, side_camera=0.5)
    cameras = [frames, left, right]

    def batches(aug: AugmentConfig | None, device: torch.device | None = None) -> list:
        return list(BatchStream(cameras, targets, plan, np.random.default_rng(3), aug, 0.1, commands=commands,
                                device=device))

    on_cpu, on_gpu = batches(aug), batches(aug, torch.device("cuda"))
    assert len(on_cpu) == len(on_gpu) == 2
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert b.frames.device.type == "cuda" and b.frames.dtype == torch.float32
        torch.testing.assert_close(b.frames.cpu(), a.frames, atol=1e-3, rtol=1e-5)
        torch.testing.assert_close(b.targets.cpu(), a.targets)
        torch.testing.assert_close(b.commands.cpu(), a.commands)
        assert torch.equal(a.reset, b.reset)
    plain = batches(None)
    assert (plain[0].frames - on_cpu[0].frames).abs().max() > 1  # the augmentation compared did something
