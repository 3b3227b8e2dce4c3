"""Shared fixtures: the real data beside the project (slow tests skip without it) and thread limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import make_recording
from timesteer.data import ImportConfig, import_recording
from timesteer.models import list_models
from timesteer.train import TrainConfig, train

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRACK1 = SHARED_DATA / "udacity-sim" / "track1_stay_center"

# Tests run on 2-core CI machines: keep each process to 2 compute threads.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def track1() -> Path:
    if not (TRACK1 / "driving_log.csv").is_file():
        pytest.skip(f"real data not present at {TRACK1}")
    return TRACK1


# Small trained runs for the streaming and integration tests (one epoch each: they check plumbing, not skill).
@pytest.fixture(scope="session")
def stream_rec(tmp_path_factory):
    """Source frames 48x64, stored with a crop and a resize, so preprocessing is really exercised."""
    root = tmp_path_factory.mktemp("stream")
    make_recording(root / "plain", n=96)
    return import_recording(ImportConfig("udacity-sim", str(root / "plain-src"), str(root / "rec"), size=(30, 40),
                                         crop=(6, 4), progress=False))


@pytest.fixture(scope="session")
def stream_runs(stream_rec, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for name in list_models():  # every registered model: the export test walks the registry
        train(TrainConfig(data=str(stream_rec), out=str(root / name), model=name, epochs=1, batch_frames=32,
                          threads=2, progress=False, tensorboard=False))
        runs[name] = root / name
    return runs
