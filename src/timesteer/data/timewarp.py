"""Time-warp augmentation: replay stretches of a drive at other speeds, so that the size of the motion
between two frames cannot be the answer.

The sideways slide between two frames is the car's yaw in one frame period, steering x speed x period.
A model trained on one driver at one speed and frame rate can read its steering off that slide (what the
wheels just did: the copycat problem, de Haan et al. 2019) and breaks when the speed, the frame rate, a
latency or lost frames change it. The road's shape ahead does not change with speed, and neither does
the steering that follows it (the path's curvature is set by the steering angle, not by how fast it is
driven). So a stretch replayed at twice the speed (every other frame) or at half (every frame twice)
keeps its labels and changes only the motion's size: a model that wants to be right on both must read
the road, or divide the motion by the forward motion it sees.

`warp_index` gives, per epoch, a map from the frames a lane walks through to the frames it is shown.
Inside each training span the map is monotone and continuous: pieces of `PIECE_FRAMES` at 2x, 1x or
0.5x, and now and then a single lost or repeated frame, never more than `MAX_DRIFT_FRAMES` from real
time, so that the training plan (chunks, lanes, state carried between them) is unchanged. Frames
outside the spans map to themselves. Labels are read at the frames shown.
"""

from __future__ import annotations

import numpy as np

from timesteer.data.splits import Span

PIECE_FRAMES = (8, 32)  # a piece at one speed lasts this many frames (drawn uniformly)
MAX_DRIFT_FRAMES = 16  # how far the shown frame may run ahead of or behind the lane's own position
EVENT_SHARE = 0.05  # of the warped share: single lost or repeated frames (a camera that drops or repeats)
RATES = (0.5, 2.0)  # the other speeds: half and twice the recorded one


def warp_index(length: int, spans: list[Span], share: float, rng: np.random.Generator) -> np.ndarray:
    """(length,) int64: the frame shown at each frame index. `share` in [0, 1] is the fraction of each
    span's pieces replayed at another speed; 0 gives the identity."""
    index = np.arange(length, dtype=np.int64)
    if share <= 0:
        return index
    for a, b in spans:
        position, rate, left = float(a), 1.0, 0
        for v in range(a, b):
            if left == 0:  # a new piece: back toward real time when drifted far, else at random
                left = int(rng.integers(PIECE_FRAMES[0], PIECE_FRAMES[1] + 1))
                drift = position - v
                if drift > MAX_DRIFT_FRAMES / 2:
                    rate = RATES[0]
                elif drift < -MAX_DRIFT_FRAMES / 2:
                    rate = RATES[1]
                else:
                    rate = float(rng.choice(RATES)) if rng.random() < share else 1.0
            index[v] = min(b - 1, int(position))
            step = rate
            if rate == 1.0 and rng.random() < share * EVENT_SHARE:
                step = float(rng.choice((0.0, 2.0)))  # one repeated or one lost frame
            position += step
            # never further than MAX_DRIFT_FRAMES from the lane's own position
            position = min(max(position, v + 1 - MAX_DRIFT_FRAMES), v + 1 + MAX_DRIFT_FRAMES)
            left -= 1
    return index
