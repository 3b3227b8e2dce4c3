"""Every metric on hand-made arrays with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from timesteer.evaluate.metrics import (
    binned_rmse,
    mae,
    magnitude_bins,
    p95_abs_error,
    per_segment,
    rmse,
    smoothness,
    steering_metrics,
)


def test_rmse_mae_p95():
    true = np.zeros(4)
    pred = np.array([1.0, -1.0, 3.0, -3.0])
    assert rmse(pred, true) == pytest.approx(math.sqrt(5.0))
    assert mae(pred, true) == pytest.approx(2.0)
    errs = np.arange(101, dtype=float)  # |error| 0..100: the 95th percentile is 95
    assert p95_abs_error(errs, np.zeros(101)) == pytest.approx(95.0)


def test_smoothness_ignores_jumps_between_segments():
    values = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    # Within segments the change is always 1; the jump 2 -> 10 is between segments.
    assert smoothness(values, np.array([0, 0, 0, 1, 1])) == pytest.approx(1.0)
    assert smoothness(values, np.zeros(5, int)) == pytest.approx(math.sqrt((1 + 1 + 64 + 1) / 4))


def test_magnitude_bins_in_radians_and_relative():
    bins = magnitude_bins(np.array([0.0, 1.0]), to_rad=math.radians(25))  # Udacity simulator units
    assert bins.edges == pytest.approx((1 / 25, 5 / 25))
    true = np.array([0.0, 0.01, 0.1, 0.5, -0.5])
    pred = true + np.array([0.1, 0.1, 0.2, 0.3, 0.3])
    out = binned_rmse(pred, true, bins)
    assert out["straight"] == {"frames": 2, "rmse": pytest.approx(0.1)}
    assert out["gentle"] == {"frames": 1, "rmse": pytest.approx(0.2)}
    assert out["sharp"] == {"frames": 2, "rmse": pytest.approx(0.3)}
    rel = magnitude_bins(np.array([0.0, -20.0, 10.0]), to_rad=None)
    assert rel.edges == pytest.approx((1.0, 5.0))


def test_per_segment_and_full_summary():
    true = np.array([0.0, 0.0, 1.0, 1.0])
    pred = np.array([0.0, 0.0, 1.0, 3.0])
    seg = np.array([0, 0, 1, 1])
    rows = per_segment(pred, true, seg)
    assert [r["rmse"] for r in rows] == pytest.approx([0.0, math.sqrt(2.0)])
    m = steering_metrics(pred, true, seg, to_rad=0.5)
    assert m["frames"] == 4 and m["rmse"] == pytest.approx(1.0) and m["rmse_rad"] == pytest.approx(0.5)
    assert m["mae"] == pytest.approx(0.5) and m["mae_rad"] == pytest.approx(0.25)
    assert m["bias"] == pytest.approx(0.5)
    # Within-segment changes of the prediction are 0 and 2: RMS sqrt(2).
    assert m["smoothness_true"] == pytest.approx(0.0) and m["smoothness_pred"] == pytest.approx(math.sqrt(2.0))
    no_rad = steering_metrics(pred, true, seg, to_rad=None)
    assert "rmse_rad" not in no_rad


def test_copycat_floor_takes_the_previous_label_within_a_segment():
    from timesteer.evaluate.metrics import previous_labels

    steering = np.array([0.0, 0.1, 0.2, 5.0, 5.1, 5.2])
    starts = np.array([0, 0, 0, 3, 3, 3])  # two segments: frame 3 has no predecessor in its own
    prev, has = previous_labels(steering, starts, np.arange(6))
    assert has.tolist() == [False, True, True, False, True, True]
    assert prev[has].tolist() == [0.0, 0.1, 5.0, 5.1]
    prev2, has2 = previous_labels(steering, starts, np.array([2, 5]), lag_frames=2)  # a model 1 frame late
    assert has2.tolist() == [True, True] and prev2.tolist() == [0.0, 5.0]


def test_keyframes_are_where_the_steering_changed_most():
    from timesteer.evaluate.metrics import floors, keyframes

    fps = 10.0  # the window is 0.5 s = 5 frames
    steering = np.zeros(100)
    steering[40:] = 0.3  # one step at frame 40: frames 40-44 see it within their window
    steering[70:] = 0.35
    key = keyframes(steering, np.zeros(100, dtype=int), np.arange(100), fps)
    assert key.sum() == 10 and set(np.flatnonzero(key)) >= set(range(40, 45))
    # A copycat is exact everywhere but the step; the model here is exact everywhere.
    prev = np.concatenate([[0.0], steering[:-1]])
    has = np.arange(100) > 0
    f = floors(steering.copy(), steering, prev, has, key, train_mean=0.2)
    assert f["keyframes"]["rmse"] == 0.0 and f["keyframes"]["copycat_rmse"] > 0.09
    assert f["copycat_rmse"] == pytest.approx(np.sqrt((0.3**2 + 0.05**2) / 99))
    assert f["zero_rmse"] == pytest.approx(np.sqrt(np.mean(steering**2)))
    assert f["mean_rmse"] == pytest.approx(np.sqrt(np.mean((steering - 0.2) ** 2)))
