"""A timesteer pilot for donkeycar's vehicle loop: one frame in, one angle out, state carried.

donkeycar's own recurrent pilot re-runs its whole window of frames every loop (about 60 ms a frame on
2 cores); this part runs each new frame once and carries the model's state. Add it to a car's
`manage.py` in place of the Keras pilot:

    from timesteer.integrations.donkey import TimesteerPilot
    pilot = TimesteerPilot("runs/mycar-gru")   # a run directory, or an .onnx file from `timesteer export`
    V.add(pilot, inputs=["cam/image_array"], outputs=["pilot/angle", "pilot/throttle"], run_condition="run_pilot")

It follows donkeycar's part interface (`run(img_arr) -> (angle, throttle)`, `shutdown()`) without
needing donkeycar installed. The angle is donkeycar's [-1, 1] (negative steers left). The part only
steers: the throttle it returns is the fixed `throttle` given (donkeycar's pilots return one too).
The model's state is reset when the pilot is switched on: donkeycar stops calling a `run_pilot` part in
user mode, so a pause of more than half a second between frames starts a new drive (a model trained
on a donkeycar tub knows its frame rate, and the Steerer keeps it on that clock).

A camera frame that comes again is not a new picture. donkeycar's threaded camera parts hand the vehicle
loop their latest frame, so a loop faster than the camera (or a camera that stalls for a moment) passes
the same frame twice, and this part stamps each call with the clock, not the capture time: stepped, the
repeat would show a model that reads motion a car that did not move for one frame period, then twice the
motion (the shortcut test's 0.5x replay, where `diffnet` is worse than one frame). The part gives a
frame equal to the last one it passed on that frame's own timestamp, as the simulators give a lost frame,
so the Steerer answers it with the steering it gave and does not step; the next new frame is stepped with
the time since the last new one. A camera still for longer than `pause_reset_s` is stepped again, as a
picture of a car standing still. `repeats` counts the frames held.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.errors import TimesteerError
from timesteer.stream.steerer import Steerer


class TimesteerPilot:
    """donkeycar part. `source`: a run directory or an exported .onnx file; `backend`: "torch",
    "onnx" or "onnx-int8" (int8 convolutions: 25-43% less time per step on CPUs with int8 dot products) for
    a run; `max_steering_rad`: the car's full lock, needed only when the model's steering is in radians
    rather than donkeycar's normalised [-1, 1]; `latency_ms`: the car's camera-to-wheel delay, for a model
    with lead heads (train/lead_heads.py)."""

    def __init__(self, source: str | Path, throttle: float = 0.2, backend: str = "torch", threads: int = 1,
                 max_steering_rad: float | None = None, pause_reset_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, latency_ms: float = 0.0) -> None:
        self.steerer = Steerer.load(source, backend=backend, threads=threads,  # type: ignore[arg-type]
                                    latency_s=latency_ms / 1000.0)
        self.steerer.gap_reset_s = pause_reset_s
        self.throttle = float(throttle)
        self.clock = clock
        unit, to_rad = self.steerer.unit, self.steerer.to_rad
        if unit == "normalized":
            self.scale = 1.0
        elif to_rad and max_steering_rad:
            self.scale = to_rad / max_steering_rad
        else:
            raise TimesteerError(f"{source}: steers in {unit!r}; give max_steering_rad (the car's full lock in "
                                 f"radians) to turn that into donkeycar's [-1, 1]")
        self.frames = 0
        self.repeats = 0  # frames that came again and were answered without stepping
        self._last_frame: np.ndarray | None = None
        self._last_new_s = 0.0  # the clock when the last new frame came: a repeat's timestamp

    def _repeated(self, frame: np.ndarray, now_s: float) -> bool:
        """Whether `frame` is the last one passed on again, inside the time a still camera is given. The
        content is compared, not the object: a camera part may refill the same buffer."""
        last, still_s = self._last_frame, self.steerer.gap_reset_s
        return (last is not None and (still_s is None or now_s - self._last_new_s <= still_s)
                and last.shape == frame.shape and np.array_equal(last, frame))

    def run(self, img_arr: Any, *_: Any) -> tuple[float, float]:
        """One camera frame (H, W, 3) RGB uint8 -> (angle in [-1, 1], throttle)."""
        if img_arr is None:  # no camera frame yet: donkeycar passes None at start-up
            return 0.0, 0.0
        frame, now_s = np.asarray(img_arr), self.clock()
        self.frames += 1
        if self._repeated(frame, now_s):
            self.repeats += 1
            now_s = self._last_new_s  # its own timestamp again: the Steerer holds its steering, as for a lost frame
        else:
            self._last_frame, self._last_new_s = frame.copy(), now_s
        value = self.steerer.step(frame, now_s)
        return float(np.clip(value * self.scale, -1.0, 1.0)), self.throttle

    def shutdown(self) -> None:
        self.steerer.reset()
        self._last_frame = None
