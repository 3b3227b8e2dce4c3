"""Tracks in parallel: `--seeds` parsing and a pool of spawned worker processes, results in seed order.

On any error, Ctrl-C or termination signal the workers are terminated at once (not waited for), so the
caller's clean-up runs straight away. When the parent is killed outright (SIGKILL, the OOM killer, a
container stopped hard) it runs no clean-up at all: on Linux each worker asks the kernel to kill it when
its parent dies (`prctl(PR_SET_PDEATHSIG)`), so none is left running on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from tqdm import tqdm

from timesteer.config import Seed
from timesteer.errors import ConfigError

SEED_MAX = int(Seed.max or 0)


def parse_seeds(text: str | list[int]) -> list[int]:
    """'1-8' -> [1..8]; '1,3,5' -> [1, 3, 5]; '1-3,10' -> [1, 2, 3, 10]."""
    if isinstance(text, list):
        return text
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ConfigError(f"--seeds: expected A-B or a comma list of whole numbers, got {text!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise ConfigError(f"--seeds: range {a}-{b} runs backwards")
        if b > SEED_MAX:
            raise ConfigError(f"--seeds: expected track seeds <= {SEED_MAX:,}, got {b}")
        if b - a > 100_000:
            raise ConfigError(f"--seeds: range {a}-{b} is too long")
        seeds += range(a, b + 1)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds: {text!r} names a track twice")
    return seeds


def run_parallel(fn: Callable[..., Any], items: list[Any], workers: int, args: tuple, desc: str,
                 progress: bool) -> list[Any]:
    """fn(item, *args) for every item (a track), on `workers` spawned processes (0: one per CPU)."""
    workers = min(len(items), workers or os.cpu_count() or 1)
    results: dict[int, Any] = {}
    bar = tqdm(total=len(items), desc=desc, unit="track", disable=not progress, leave=False)
    try:
        if workers <= 1:
            with one_torch_thread():
                for k, item in enumerate(items):
                    results[k] = fn(item, *args)
                    bar.update(1)
        else:
            # spawn, not fork: the parent may hold torch threads and a Box2D world, which fork copies badly.
            ctx = multiprocessing.get_context("spawn")
            pool = ctx.Pool(workers, initializer=_worker_init, initargs=(os.getpid(),))
            try:
                for k, result in pool.imap_unordered(_call, [(fn, k, item, args) for k, item in enumerate(items)]):
                    results[k] = result
                    bar.update(1)
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
    finally:
        bar.close()
    return [results[k] for k in range(len(items))]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch at one thread while the tracks run here, as in a spawned worker, then back to what it was.

    A simulator steps on one core and a model's step at batch 1 gains nothing from a second thread, while
    two drives side by side, each at torch's default of one thread per core, ask for twice the cores there
    are: on 2 cores that made them 5x slower (benchmarks/bench_drive_threads.py, BENCHMARKS.md "Simulator
    speed"). A check found the outputs the same to the bit at 1 and 2 threads (two models, 300 frames).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _call(job: tuple) -> tuple[int, Any]:
    fn, k, item, args = job
    return k, fn(item, *args)


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when the thread that made it ends (Linux only; elsewhere
    the pool's own clean-up is all there is). If the parent is already gone, go now."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os._exit(1)


def _worker_init(parent_pid: int) -> None:
    import signal

    import torch

    die_with_parent(parent_pid)

    torch.set_num_threads(1)  # one process per core already
    # Ctrl-C goes to the whole process group; the parent decides, and terminates workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
