"""Workers never outlive their parent: a `drive --workers 2` killed with SIGKILL (the OOM killer, a
container stopped hard) runs no clean-up, so the kernel must end its simulator workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal")


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(c) for c in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_pool_workers_end_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", (
        "import time\nfrom timesteer.sim.parallel import run_parallel\n"
        "run_parallel(time.sleep, [120, 120], 2, (), 'sleep', False)")])
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline:
            workers = {c for c in _children(parent.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()}
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, "the pool's workers did not start"
        time.sleep(5)  # let them pass their start-up (importing torch) and take a track each
        assert all(_alive(w) for w in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        left = [w for w in workers if _alive(w)]
        for w in left:
            os.kill(w, signal.SIGKILL)
        assert not left, f"workers {left} outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
