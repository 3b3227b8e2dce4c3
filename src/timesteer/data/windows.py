"""Which frames go into each training batch: contiguous chunks in time, never shuffled frames.

Two plans, both re-drawn every epoch from a seeded generator:

* `plan_lanes` (stateful, truncated backpropagation through time, as Komanda and Chauffeur trained):
  the training spans are cut into chunks of `seq_len` frames at a random offset, laid end to end in
  time order, rotated, and split into `lanes` contiguous runs. Step j gives lane i its j-th chunk, so
  each lane walks forward through one drive and its recurrent state can be carried from one batch to
  the next; `reset` marks the lanes whose chunk does not continue the previous one (a new span).
* `plan_windows` (stateless): independent windows of `warmup + seq_len` frames inside one span, in
  random order; the first `warmup` frames (frame history or burn-in) carry no loss. With seq_len 1 and
  no warmup this is plain per-frame shuffling for single-frame models.

Both return start indexes only; frames are read later from the memory-mapped recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timesteer.data.splits import Span
from timesteer.errors import ConfigError


@dataclass
class Plan:
    starts: np.ndarray  # (steps, lanes) first frame of each lane's chunk (after any warmup frames)
    reset: np.ndarray  # (steps, lanes) bool: the lane starts a new sequence at this step
    seq_len: int
    warmup: int = 0  # frames read before `starts` whose outputs carry no loss

    @property
    def steps(self) -> int:
        return int(self.starts.shape[0])

    @property
    def lanes(self) -> int:
        return int(self.starts.shape[1])



def _tile(spans: list[Span], seq_len: int, warmup: int, offset: int) -> list[tuple[int, int]]:
    """(span index, chunk start) of consecutive chunks tiling each span from `warmup + offset`."""
    chunks = []
    for k, (a, b) in enumerate(spans):
        first = a + warmup + (offset if b - a - warmup >= seq_len + offset else 0)
        chunks += [(k, s) for s in range(first, b - seq_len + 1, seq_len)]
    return chunks


def _weigh(chunks: list[tuple[int, int]], weights: list[float] | None,
           rng: np.random.Generator | None) -> list[tuple[int, int]]:
    """Repeat each span's chunks by its weight: w = 2.5 gives them twice, and a third time with
    probability 0.5 (drawn per span and epoch). A repeated run of chunks is a new sequence for a lane."""
    if weights is None or all(w == 1.0 for w in weights):
        return chunks
    by_span: dict[int, list[tuple[int, int]]] = {}
    for chunk in chunks:
        by_span.setdefault(chunk[0], []).append(chunk)
    out: list[tuple[int, int]] = []
    for k, span_chunks in by_span.items():
        w = weights[k]
        reps = int(w) + (int(rng.random() < w - int(w)) if rng is not None else 0)
        out += span_chunks * reps
    return out


def min_chunks(spans: list[Span], seq_len: int, warmup: int = 0, weights: list[float] | None = None) -> int:
    """The fewest chunks an epoch can have, whatever random offset it draws."""
    return min(len(_weigh(_tile(spans, seq_len, warmup, offset), weights, None)) for offset in range(seq_len))


def plan_lanes(spans: list[Span], lanes: int, seq_len: int, rng: np.random.Generator,
               weights: list[float] | None = None) -> Plan:
    chunks = _weigh(_tile(spans, seq_len, 0, int(rng.integers(seq_len))), weights, rng)
    steps = len(chunks) // lanes
    if steps == 0:
        raise ConfigError(f"{len(chunks)} chunks of {seq_len} frames cannot fill {lanes} lanes; "
                          f"lower batch_frames or seq_len")
    # Rotating the circle of chunks moves where lanes begin, so no frame is always a lane's first.
    shift = int(rng.integers(len(chunks)))
    chunks = chunks[shift:] + chunks[:shift]
    arr = np.asarray(chunks[: steps * lanes]).reshape(lanes, steps, 2)  # lane-major: contiguous runs
    span_id, start = arr[..., 0].T, arr[..., 1].T  # (steps, lanes)
    reset = np.ones_like(start, dtype=bool)
    reset[1:] = (span_id[1:] != span_id[:-1]) | (start[1:] != start[:-1] + seq_len)
    return Plan(start, reset, seq_len, 0)


def plan_windows(spans: list[Span], batch: int, seq_len: int, warmup: int, rng: np.random.Generator,
                 weights: list[float] | None = None) -> Plan:
    chunks = _weigh(_tile(spans, seq_len, warmup, int(rng.integers(seq_len))), weights, rng)
    steps = len(chunks) // batch
    if steps == 0:
        raise ConfigError(f"{len(chunks)} windows of {warmup + seq_len} frames cannot fill a batch of {batch}; "
                          f"lower batch_frames")
    order = rng.permutation(len(chunks))[: steps * batch]
    start = np.asarray([chunks[i][1] for i in order]).reshape(steps, batch)
    return Plan(start, np.ones_like(start, dtype=bool), seq_len, warmup)
