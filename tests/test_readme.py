"""The README tells the truth: the blocks it marks runnable run, on a small drive the test makes, with
the tour's own commands and code (only the path of the shared drive is replaced)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_udacity_sim

README = Path(__file__).resolve().parents[1] / "README.md"
SHARED = "../shared/data/udacity-sim/track1_stay_center"
BLOCK = re.compile(r"<!-- runnable[^>]*-->\n```(bash|python)\n(.*?)```", re.S)


def runnable_blocks() -> dict[str, str]:
    found = {lang: code for lang, code in BLOCK.findall(README.read_text())}
    assert set(found) == {"bash", "python"}, "the README marks one shell and one Python block runnable"
    return found


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> Path:
    """A drive shaped like the simulator's: 320x160 frames in IMG/, driving_log.csv, 10 Hz."""
    return write_udacity_sim(tmp_path_factory.mktemp("readme") / "drive", n=90, size=(160, 320))


def run(cmd: list[str], code: str, cwd: Path, drive: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "OMP_NUM_THREADS": "2"}
    assert SHARED in code
    return subprocess.run([*cmd, code.replace(SHARED, str(drive))], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_the_tour_runs(drive, tmp_path):
    out = run(["bash", "-euo", "pipefail", "-c"], runnable_blocks()["bash"], tmp_path, drive)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "gru.onnx").stat().st_size > 10_000
    assert (tmp_path / "report" / "index.html").exists() and (tmp_path / "explain" / "explain.json").exists()
    assert "carried state, ONNX Runtime" in out.stdout and "| rank |" in out.stdout


def test_the_python_snippet_runs(drive, tmp_path):
    out = run([sys.executable, "-c"], runnable_blocks()["python"], tmp_path, drive)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    # The evaluation's RMSE, in the simulator's [-1, 1]: a number, and not as large as full lock.
    assert 0 < float(lines[-2]) < 1
    assert re.fullmatch(r"steer [+-]\d\.\d{4} rad", lines[-1])
