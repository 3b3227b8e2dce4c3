"""The steering command in effect when each frame was taken: what the driver issued at the frame before.

A model built with `own_command` gets it as an input beside the picture (a real controller knows what it
asked the wheels for). Recordings made in a simulator keep the command the driver issued per frame
(`driver_steering`: the expert's, or a learner's in DAgger, which is not the label); for a human drive
the steering recorded is both what was asked and the label. A segment starts from a centred wheel (0):
after a gap or an intervention nothing the driver issued before is still in flight.
"""

from __future__ import annotations

import numpy as np

from timesteer.data.recording import Recording

ISSUED = "driver_steering"


def previous_commands(rec: Recording) -> np.ndarray:
    """(N,) float32: frame i's command in effect, the one issued at frame i-1 (0 at a segment's start)."""
    issued = np.asarray(rec.signals[ISSUED if rec.has_signal(ISSUED) else "steering"], dtype=np.float32)
    prev = np.zeros(len(issued), dtype=np.float32)
    prev[1:] = issued[:-1]
    for seg in rec.segments:
        if seg.stop > seg.start:
            prev[seg.start] = 0.0
    return prev
