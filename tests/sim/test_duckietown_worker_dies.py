"""When the Duckietown worker dies, the error says what it said last (its stderr used to be discarded, so
a crash showed only "stopped answering"). Needs no Duckietown environment: a stand-in worker dies."""

from __future__ import annotations

import sys

import pytest

from timesteer.errors import TimesteerError
from timesteer.sim import duckietown


def test_a_dying_worker_is_one_line_with_its_last_words(tmp_path, monkeypatch):
    worker = tmp_path / "worker.py"
    worker.write_text("import sys\nprint('pyglet: some warning', file=sys.stderr)\n"
                      "print('Traceback (most recent call last):', file=sys.stderr)\n"
                      "print('RuntimeError: could not create a GL context', file=sys.stderr)\nsys.exit(1)\n")
    monkeypatch.setattr(duckietown, "WORKER", worker)
    monkeypatch.setattr(duckietown, "check_environment", lambda: sys.executable)
    with pytest.raises(TimesteerError) as err:
        duckietown.DuckietownSim(3, "small_loop")
    message = str(err.value)
    assert "\n" not in message and "small_loop, seed 3" in message
    assert message.endswith("it said: RuntimeError: could not create a GL context")
