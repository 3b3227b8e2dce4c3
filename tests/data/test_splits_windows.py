"""Splits by time, TBPTT lanes and stateless windows: contiguous, inside one span, never straddling."""

from __future__ import annotations

import numpy as np

from timesteer.data.manifest import Segment
from timesteer.data.splits import split_by_time
from timesteer.data.windows import plan_lanes, plan_windows


def segs(*bounds: tuple[int, int]) -> list[Segment]:
    return [Segment(a, b) for a, b in bounds]


def test_split_end_holds_out_the_last_fraction_in_time():
    train, val = split_by_time(segs((0, 100)), 0.2)
    assert train == [(0, 80)] and val == [(80, 100)]


def test_split_cuts_segments_and_never_shares_frames():
    train, val = split_by_time(segs((0, 30), (30, 70), (70, 100)), 0.25)
    assert train == [(0, 30), (30, 70), (70, 75)] and val == [(75, 100)]
    train, val = split_by_time(segs((0, 100)), 0.2, mode="blocks", blocks=4)
    assert val == [(20, 25), (45, 50), (70, 75), (95, 100)]
    assert train == [(0, 20), (25, 45), (50, 70), (75, 95)]
    covered = np.zeros(100, int)
    for a, b in train + val:
        covered[a:b] += 1
    assert (covered == 1).all()


def test_lanes_walk_forward_in_time_and_reset_between_spans():
    spans = [(0, 200), (300, 420)]
    plan = plan_lanes(spans, lanes=4, seq_len=10, rng=np.random.default_rng(0))
    assert plan.starts.shape[1] == 4 and plan.steps >= 7
    for lane in range(4):
        for step in range(1, plan.steps):
            prev, cur = plan.starts[step - 1, lane], plan.starts[step, lane]
            continues = cur == prev + 10 and any(a <= prev and cur + 10 <= b for a, b in spans)
            assert plan.reset[step, lane] == (not continues)
    assert plan.reset[0].all()
    # Every chunk lies inside one span.
    for s in plan.starts.ravel():
        assert any(a <= s and s + 10 <= b for a, b in spans)
    # No frame is used twice in an epoch.
    used = np.concatenate([np.arange(s, s + 10) for s in plan.starts.ravel()])
    assert len(used) == len(set(used))


def test_lanes_change_between_epochs_but_are_reproducible():
    spans = [(0, 500)]
    a = plan_lanes(spans, 4, 8, np.random.default_rng([1, 0]))
    b = plan_lanes(spans, 4, 8, np.random.default_rng([1, 0]))
    c = plan_lanes(spans, 4, 8, np.random.default_rng([1, 1]))
    assert np.array_equal(a.starts, b.starts) and not np.array_equal(a.starts, c.starts)


def test_windows_fit_their_warmup_inside_the_span():
    spans = [(0, 50), (60, 100)]
    plan = plan_windows(spans, batch=8, seq_len=4, warmup=5, rng=np.random.default_rng(3))
    for s in plan.starts.ravel():
        assert any(a <= s - 5 and s + 4 <= b for a, b in spans)
    assert plan.reset.all() and plan.warmup == 5


def test_single_frame_windows_visit_each_frame_once():
    plan = plan_windows([(0, 64)], batch=16, seq_len=1, warmup=0, rng=np.random.default_rng(0))
    assert sorted(plan.starts.ravel().tolist()) == list(range(64))
