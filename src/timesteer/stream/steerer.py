"""Live steering: one camera frame in, one angle out, state carried.

    steerer = Steerer.from_run("RUN")
    steerer.reset()                      # a new drive
    angle = steerer.step(frame)          # raw camera frame (H, W, 3) uint8, native size

`step` applies the training crop, resize and normalisation, runs the encoder once on the new frame
and the temporal head once with the carried state. Its cost per frame does not grow with how long
the car has been driving (donkeycar, by contrast, re-runs its whole window every frame).

A model built with `motion_per_distance` also wants the car's speed, in the training recording's unit:
`steerer.step(frame, t, speed=v)`; it is told the distance travelled since its last step (the speed
times the time between the two frames, or times the training frame period without timestamps).
Without a speed it assumes the training's distance per frame. One built with `motion_per_second` needs
no speed: it is told the time between its frames (the timestamps, else the training frame period).
"""

from __future__ import annotations

import warnings
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from timesteer.errors import InputError, TimesteerError
from timesteer.models import SteeringModel
from timesteer.stream.backends import Backend, OnnxStep, Step, TorchStep, onnx_metadata
from timesteer.stream.preprocessing import Preprocessing
from timesteer.train.run import Which, load_run


class Steerer:
    """One frame in, one angle out, on the clock the model was trained at.

    A model that looks at frame differences or carries a recurrent state has learned what one frame
    period is. Given timestamps, `step` advances the model only when the next frame at the training rate
    is due, and otherwise returns the latest output: a camera (or the Udacity simulator, which sends as
    fast as it is answered) delivering frames faster than the training rate is thinned to it, and a
    repeated frame (a lost one comes again with its old timestamp) does not advance it. Frames slower
    than the training rate are each used (there is nothing else to use); when most of the last ten came
    late that is reported once, as a warning: train at the rate you will drive (`import --fps`). Without
    timestamps every call is a step.
    """

    # A frame counts as due when it arrives this close to its slot (a fraction of the period): 10% absorbs
    # timestamp jitter while a stream at 2x or 3x the training rate still lands between slots.
    DUE_TOLERANCE = 0.1

    def __init__(self, model: SteeringModel | Step, preprocessing: Preprocessing, unit: str = "rad",
                 gap_reset_s: float | None = None, fps: float | None = None, to_rad: float | None = None,
                 lead_s: float | None = None) -> None:
        self.runner: Step = TorchStep(model) if isinstance(model, SteeringModel) else model
        self.model = model if isinstance(model, SteeringModel) else None
        self.to_rad = to_rad
        self.pre = preprocessing
        self.shaper = preprocessing.shaper()
        self.unit = unit
        self.gap_reset_s = gap_reset_s  # a pause longer than this between frames starts a new drive
        self.fps = fps
        self.period_s = 1.0 / fps if fps else None  # the training frame period
        self.state: Any = None
        self.frames_seen = 0  # frames that advanced the model
        self.frames_given = 0
        self.slow_warned = False
        self._late: deque[bool] = deque(maxlen=10)
        # The latency the steering output was learned for (a run's lead head or plain steering,
        # train/lead_heads.py); None where it is not known (a run or an exported file from before the heads).
        self.lead_s = lead_s
        self._last_t: float | None = None
        self._next_due: float | None = None
        self._stepped_t: float | None = None  # the timestamp of the frame the model last stepped on
        self._latest = 0.0

    @property
    def backend(self) -> str:
        return self.runner.name

    def sharing(self, runner: Step | None = None) -> Steerer:
        """A new Steerer with this one's preprocessing, unit and clock, its own state, stepping with
        `runner` (by default this one's: one loaded model serving many connections)."""
        return Steerer(runner or self.runner, self.pre, self.unit, self.gap_reset_s, self.fps, self.to_rad,
                       self.lead_s)

    @classmethod
    def from_run(cls, run_dir: str | Path, checkpoint: Which = "best", device: str = "cpu",
                 backend: Backend = "torch", threads: int = 0, latency_s: float = 0.0) -> Steerer:
        """A trained run, stepped by PyTorch or (exported in memory) by ONNX Runtime; `onnx-int8` quantises
        the exported step's convolutions, calibrated on the run's own recording. `latency_s`: how long after
        its picture a command acts on this car; a model with lead heads steers with the nearest
        (train/lead_heads.py), others as they are."""
        run = load_run(run_dir, checkpoint, device)
        lead_s = run.steer_for_latency(latency_s) if run.data.steer_leads_s else None
        fps = run.data.fps
        gap = max(0.5, 5.0 / fps) if fps > 0 else None  # the import's default segment-gap rule
        runner: SteeringModel | Step = run.model
        if backend in ("onnx", "onnx-int8"):
            from timesteer.stream.export import ExportError, export_bytes, int8_bytes

            try:
                data = export_bytes(run.model, run.info)
            except ExportError as exc:
                raise TimesteerError(f"{run_dir}: {exc}") from None
            if backend == "onnx-int8":
                data = int8_bytes(data, run.model, run.info)
            runner = OnnxStep(data, threads)
        return cls(runner, Preprocessing.from_run_info(run.info), run.steering_unit, gap, fps,
                   run.data.steering.to_rad, lead_s)

    @classmethod
    def from_onnx(cls, path: str | Path, threads: int = 0) -> Steerer:
        """An ONNX file written by `timesteer export`: it carries its preprocessing, unit and rate."""
        path = Path(path)
        if not path.is_file():
            raise TimesteerError(f"{path}: ONNX file not found")
        runner = OnnxStep(path, threads)
        meta = onnx_metadata(runner.metadata, str(path))
        pre = Preprocessing(meta["source_height"], meta["source_width"], meta["crop_top"], meta["crop_bottom"],
                            meta["height"], meta["width"])
        fps = meta["fps"]
        gap = max(0.5, 5.0 / fps) if fps else None
        return cls(runner, pre, meta["unit"], gap, fps, meta["to_rad"], meta["lead_s"])

    @classmethod
    def load(cls, source: str | Path, backend: Backend = "torch", threads: int = 0, latency_s: float = 0.0) -> Steerer:
        """A run directory or an exported .onnx file. `latency_s`: see `from_run`; an exported file steers with
        the output chosen when it was exported (`timesteer export --latency-ms`)."""
        if Path(source).is_file() and str(source).endswith(".onnx"):
            if latency_s:
                raise TimesteerError(f"{source}: an exported file steers with the output chosen at export; export "
                                     f"it for this latency (`timesteer export RUN --latency-ms "
                                     f"{latency_s * 1000:g}`) or load the run directory")
            return cls.from_onnx(source, threads)
        return cls.from_run(source, backend=backend, threads=threads, latency_s=latency_s)

    def reset(self) -> None:
        self.state = None
        self.frames_seen = 0
        self._last_t = None
        self._next_due = None
        self._stepped_t = None
        self._latest = 0.0

    def shape(self, frame: np.ndarray) -> np.ndarray:
        """Native camera frame (H, W, 3) uint8 -> working frame, exactly as the importer made them."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(None, f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
        return self.shaper.shape_array(frame)

    def due(self, timestamp_s: float | None) -> bool:
        """Whether a frame at `timestamp_s` advances the model (and the bookkeeping for it)."""
        self.frames_given += 1
        if timestamp_s is None:
            return True
        if self._last_t is not None and self.gap_reset_s and timestamp_s - self._last_t > self.gap_reset_s:
            self.reset()  # a pause: a new drive
        if self._last_t is not None and timestamp_s <= self._last_t:
            return False  # the same frame again (a lost one), or time going backwards
        self._last_t = timestamp_s
        if self.period_s is None or self._next_due is None:
            self._next_due = None if self.period_s is None else timestamp_s + self.period_s
            return True
        if timestamp_s < self._next_due - self.DUE_TOLERANCE * self.period_s:
            return False  # faster than the training rate: not this one
        late = timestamp_s - self._next_due
        self._late.append(late > 0.5 * self.period_s)
        # A lost frame now and then is no news; a stream mostly slower than the training rate is.
        if not self.slow_warned and len(self._late) == self._late.maxlen and sum(self._late) > len(self._late) / 2:
            self.slow_warned = True
            warnings.warn(f"frames arrive slower than the {1 / self.period_s:.3g} frames per second this model was "
                          f"trained at (most of the last {len(self._late)} came late, the latest "
                          f"{late + self.period_s:.3f} s after the one before); time runs slow for it: train at the "
                          f"rate you drive (import --fps)", RuntimeWarning, stacklevel=3)
        # Keep to the grid; after a late frame, start a new grid from it.
        self._next_due = self._next_due + self.period_s if late < self.period_s else timestamp_s + self.period_s
        return True

    def step_shaped(self, frame: np.ndarray, timestamp_s: float | None = None, speed: float | None = None) -> float:
        """One already-shaped frame (height, width, 3) uint8 -> steering in the recording's unit."""
        if not self.due(timestamp_s):
            return self._latest
        self._tell_distance(timestamp_s, speed)
        return self._advance(frame)

    def step(self, frame: np.ndarray, timestamp_s: float | None = None, speed: float | None = None) -> float:
        """One native camera frame -> steering in the recording's unit, state carried. A frame that is not
        due is not even resized. `speed`: the car's, in the training recording's unit (models built with
        `motion_per_distance`; others ignore it)."""
        if not self.due(timestamp_s):
            return self._latest
        self._tell_distance(timestamp_s, speed)
        return self._advance(self.shape(frame))

    @property
    def takes_speed(self) -> bool:
        """Whether the model divides its motion by the distance travelled (built with `motion_per_distance`)."""
        return self.runner.takes_distance and not self.runner.distance_per_second

    def _tell_distance(self, timestamp_s: float | None, speed: float | None) -> None:
        """Before a step: the distance since the last step, for a model that wants it and a known speed
        (a model built with `motion_per_second`: the time since the last step, no speed needed)."""
        previous, self._stepped_t = self._stepped_t, timestamp_s
        if self.runner.distance_per_second:
            speed = 1.0
        if not self.runner.takes_distance or speed is None or not np.isfinite(speed):
            return
        if timestamp_s is not None and previous is not None:
            period = timestamp_s - previous
        elif self.period_s is not None:
            period = self.period_s  # no clock (or the first frame): the training frame period
        else:
            return
        self.state = self.runner.with_distance(self.state, max(0.0, float(speed)) * period)

    @property
    def takes_command(self) -> bool:
        """Whether the model takes the command issued last (built with `own_command`)."""
        return self.runner.takes_command

    def issued(self, command: float) -> None:
        """The command the car was actually given after the last step, in the recording's unit. A model
        that takes its own command assumes its own output; tell it when something else steered (an
        expert or a human took over). Other models need not know: ignored."""
        if self.runner.takes_command:
            self.state = self.runner.with_command(self.state, float(command))

    def _advance(self, frame: np.ndarray) -> float:
        self._latest, self.state = self.runner(frame, self.state)
        self.frames_seen += 1
        return self._latest
