"""A run killed with SIGKILL resumes exactly; torchrun with 2 CPU processes matches one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import make_recording
from timesteer.models import create_model
from timesteer.train import load_checkpoint


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recording(tmp_path_factory.mktemp("data") / "rec", n=400, segments=2)


def train_cmd(rec, out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "timesteer", "train", "--data", str(rec), "--out", str(out), "--model", "cnn_gru",
            "--batch-frames", "32", "--seq-len", "8", "--threads", "1", "--quiet", "--no-tensorboard", *extra]


def weights(run) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.pt")["model"]["state_dict"]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(rec, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(train_cmd(rec, straight, "--epochs", "4"), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(rec, killed, "--epochs", "4"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().strip().splitlines()) >= 2:  # header + epoch 1
            break
        time.sleep(0.01)
    time.sleep(0.2)  # into the second epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    info = json.loads((killed / "run.json").read_text())
    assert info["status"] == "running" and 1 <= info["epochs_done"] < 4, info["epochs_done"]
    # The checkpoint left behind is whole and loads.
    assert load_checkpoint(killed / "last.pt")["epoch"] == info["epochs_done"] - 1

    subprocess.run([sys.executable, "-m", "timesteer", "train", "--resume", str(killed), "--quiet"], check=True,
                   env=env, capture_output=True)
    a, b = weights(straight), weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((killed / "run.json").read_text())["epochs_done"] == 4
    assert len((killed / "metrics.csv").read_text().strip().splitlines()) == 5


def test_torchrun_two_cpu_processes_match_one_process(rec, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Dropout off: each process draws its own dropout masks, which a single process would draw differently.
    common = ["--epochs", "2", "--model-config", '{"dropout": 0.0}']
    single = tmp_path / "single"
    subprocess.run(train_cmd(rec, single, *common), check=True, env=env, capture_output=True)
    ddp = tmp_path / "ddp"
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "timesteer", *[a for a in train_cmd(rec, ddp, *common)[3:] if a != "--quiet"]],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # One voice: only rank 0 prints its epochs and the closing line; OMP_NUM_THREADS set, so no banner.
    lines = out.stdout.strip().splitlines()
    assert sum(ln.startswith("epoch ") for ln in lines) == 2, out.stdout
    assert sum(ln.startswith("run ") for ln in lines) == 1, out.stdout
    assert "OMP_NUM_THREADS" not in out.stderr
    info = json.loads((ddp / "run.json").read_text())
    assert info["schedule"]["world_size"] == 2 and info["schedule"]["lanes"] == 4
    a, b = weights(single), weights(ddp)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=2e-5, rtol=1e-4), (k, (a[k] - b[k]).abs().max())
    # And both really trained: the weights moved from their seeded initial values far beyond the tolerance.
    torch.manual_seed(0)
    init = create_model("cnn_gru", in_shape=(3, 48, 64), dropout=0.0).state_dict()
    moved = max(float((b[k] - init[k]).abs().max()) for k in init if k in b and "norm" not in k and "_mean" not in k
                and "_std" not in k)
    assert moved > 100 * 2e-5, moved
