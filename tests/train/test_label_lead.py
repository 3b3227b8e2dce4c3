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
