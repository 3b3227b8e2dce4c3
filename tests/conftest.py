"""Shared fixtures: the real data beside the project (slow tests skip without it) and thread limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRACK1 = SHARED_DATA / "udacity-sim" / "track1_stay_center"

# Tests run on 2-core CI machines: keep each process to 2 compute threads.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def track1() -> Path:
    if not (TRACK1 / "driving_log.csv").is_file():
        pytest.skip(f"real data not present at {TRACK1}")
    return TRACK1
