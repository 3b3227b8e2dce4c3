"""Keep freed memory in the process instead of handing it back to the kernel: `cnn_gru` trains 1.5-1.7x faster.

A CPU training step allocates and frees dozens of tensors of 0.1-50 MB (activations, their gradients,
the batch). glibc's malloc serves blocks over its mmap threshold (128 KB at first, raised as blocks are
freed) straight from the kernel and returns them on free, and trims the heap whenever its free top
passes the trim threshold; either way the next step's tensors land on fresh pages, and every 4-KiB page
costs a page fault the first time it is written (about 16,000 a 64-frame `cnn_gru` step). On 2 cores
that was 35-40% of a `cnn_gru` training step (BENCHMARKS.md, "Training throughput"). Raising the mmap
threshold to glibc's maximum (32 MB) and the trim threshold to 1 GB keeps the pages mapped from one step
to the next; the price is that the process's resident memory stays at its peak instead of shrinking
between steps.

This is what PyTorch's CPU performance guides get by preloading jemalloc or tcmalloc; a preload must be
set before the process starts and neither comes as a wheel, while glibc's `mallopt` is always there on
Linux and can be called at run time (through ctypes). Elsewhere (macOS, Windows, musl) nothing is
changed. Set `TIMESTEER_MALLOC=default` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

# mallopt parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 << 20  # glibc refuses more (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD_BYTES = 1 << 30

OPT_OUT_ENV = "TIMESTEER_MALLOC"


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # musl has no mallopt; glibc has, and says which glibc it is.
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return None
    return libc


@functools.cache  # the settings are per process: made once, they stay
def keep_freed_memory() -> bool:
    """Tune glibc's malloc for training-sized tensors, once per process. True when the settings are in
    force (now or from an earlier call), False where they do not apply or `TIMESTEER_MALLOC=default`."""
    if os.environ.get(OPT_OUT_ENV, "").strip().lower() == "default":
        return False
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 when it refuses a value.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
