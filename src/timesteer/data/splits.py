"""Train/validation splits by time blocks or by recording, never by shuffled frames.

A split is two lists of spans: (start, stop) frame ranges inside one segment each. A window or a
carried state never crosses a span boundary, so nothing seen in training straddles into validation.
"""

from __future__ import annotations

from typing import Literal

from timesteer.data.manifest import Segment
from timesteer.errors import ConfigError

Span = tuple[int, int]
SplitMode = Literal["end", "blocks"]


def segment_spans(segments: list[Segment]) -> list[Span]:
    return [(s.start, s.stop) for s in segments if s.stop > s.start]


def _intersect(spans: list[Span], lo: int, hi: int) -> list[Span]:
    out = []
    for a, b in spans:
        a2, b2 = max(a, lo), min(b, hi)
        if b2 > a2:
            out.append((a2, b2))
    return out


def split_by_time(segments: list[Segment], val_fraction: float, mode: SplitMode = "end",
                  blocks: int = 5, min_span: int = 2) -> tuple[list[Span], list[Span]]:
    """Hold out the last `val_fraction` of the recording ("end"), or the last `val_fraction` of each of
    `blocks` equal time blocks ("blocks": validation drawn from the whole drive, still in blocks)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction: expected 0 <= x < 1, got {val_fraction}")
    spans = segment_spans(segments)
    n = spans[-1][1] if spans else 0
    if val_fraction == 0.0:
        return spans, []
    if mode == "end":
        edges = [(0, n)]
    elif mode == "blocks":
        if blocks < 1:
            raise ConfigError(f"val_blocks: expected >= 1, got {blocks}")
        edges = [(n * i // blocks, n * (i + 1) // blocks) for i in range(blocks)]
    else:
        raise ConfigError(f"val_split: expected 'end' or 'blocks', got {mode!r}")
    train, val = [], []
    for lo, hi in edges:
        cut = hi - round((hi - lo) * val_fraction)
        train += _intersect(spans, lo, cut)
        val += _intersect(spans, cut, hi)
    keep = [s for s in train if s[1] - s[0] >= min_span], [s for s in val if s[1] - s[0] >= min_span]
    if not keep[0]:
        raise ConfigError("the split leaves no training frames; lower val_fraction")
    return keep


def span_frames(spans: list[Span]) -> int:
    return sum(b - a for a, b in spans)
