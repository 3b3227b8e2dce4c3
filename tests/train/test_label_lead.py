"""`label_lead_s`: each frame learns the label recorded that long after it, never across a segment's end."""

from __future__ import annotations

import numpy as np

from tests.helpers import make_recording
from timesteer.data.recording import Recording
from timesteer.train.config import TrainConfig
from timesteer.train.dataset import lead_index, load_train_data


def test_the_lead_stays_inside_each_span():
    index = lead_index(12, [(0, 5), (5, 12)], 2)
    assert index.tolist() == [2, 3, 4, 4, 4, 7, 8, 9, 10, 11, 11, 11]


def test_training_labels_lead_their_frames(tmp_path):
    rec_path = make_recording(tmp_path / "rec", n=90, segments=3)
    rec = Recording.open(rec_path)
    k = 3
    lead_s = k / rec.manifest.fps
    own = load_train_data(TrainConfig(data=str(rec_path), out=str(tmp_path / "a")), ())
    ahead = load_train_data(TrainConfig(data=str(rec_path), out=str(tmp_path / "b"), label_lead_s=lead_s), ())
    steering = own.targets[:, 0]
    assert not np.array_equal(ahead.targets[:, 0], steering)
    for seg in rec.segments:
        a, b = seg.start, seg.stop
        np.testing.assert_array_equal(ahead.targets[a : b - k, 0], steering[a + k : b])
        np.testing.assert_array_equal(ahead.targets[b - k : b, 0], np.full(k, steering[b - 1]))
    # Under time warp the lead is read where the lane is shown it later (data/timewarp.py): the data say which
    # frame each steering column's label is, the plain one's with its lead, and a head's with its own.
    assert own.steer_frames is None, "no column leads: nothing to warp"
    assert ahead.steer_frames is not None and ahead.steering is not None
    np.testing.assert_array_equal(ahead.steering[ahead.steer_frames[0]], ahead.targets[:, 0])
    headed = load_train_data(TrainConfig(data=str(rec_path), out=str(tmp_path / "c"), label_lead_s=lead_s,
                                         lead_heads_s=(2 * lead_s,)), ())
    assert headed.steer_frames is not None and headed.steer_frames.shape == (2, len(steering))
    np.testing.assert_array_equal(headed.steer_frames[0], ahead.steer_frames[0])
    np.testing.assert_array_equal(headed.steering[headed.steer_frames[1]], headed.targets[:, 1])
    a, b = rec.segments[0].start, rec.segments[0].stop
    np.testing.assert_array_equal(headed.steer_frames[1][a : b - 2 * k], np.arange(a + 2 * k, b))
