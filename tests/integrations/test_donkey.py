"""The donkeycar part in a loop like donkeycar's Vehicle: pilot mode steps it each loop, user mode stops
calling it, switching back on starts a new drive; works from a run directory and from an ONNX file."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import run_cli
from timesteer.errors import TimesteerError
from timesteer.integrations.donkey import TimesteerPilot
from timesteer.stream import Steerer


class FakeVehicle:
    """donkeycar's Vehicle, as far as a part can tell: a memory of named values and a loop at a fixed
    rate that calls each part's run() with its inputs when its run_condition holds."""

    def __init__(self, rate_hz: float) -> None:
        self.memory: dict[str, object] = {}
        self.parts: list[tuple[object, list[str], list[str], str | None]] = []
        self.t = 0.0
        self.period = 1.0 / rate_hz

    def add(self, part, inputs, outputs, run_condition=None) -> None:
        self.parts.append((part, inputs, outputs, run_condition))

    def loop(self, frames) -> None:
        for frame in frames:
            self.memory["cam/image_array"] = frame
            for part, inputs, outputs, condition in self.parts:
                if condition is None or self.memory.get(condition):
                    result = part.run(*[self.memory.get(k) for k in inputs])
                    self.memory.update(zip(outputs, result, strict=True))
            self.t += self.period

    def stop(self) -> None:
        for part, *_ in self.parts:
            part.shutdown()


def _natives(stream_rec, n: int) -> list[np.ndarray]:
    """The first `n` camera frames of the test recording's source, as the camera gave them."""
    from pathlib import Path

    from PIL import Image

    from timesteer.data import Recording
    from timesteer.data.importers.udacity_sim import parse

    rec = Recording.open(stream_rec)
    return [np.asarray(Image.open(p).convert("RGB")) for p in
            parse(Path(rec.manifest.source.path)).cameras[0].frames.paths[:n]]


@pytest.mark.parametrize("source", ["run", "onnx"])
def test_a_pilot_in_a_vehicle_loop(stream_runs, stream_rec, tmp_path, source):
    from timesteer.data import Recording

    run = stream_runs["cnn_gru"]
    path = run
    if source == "onnx":
        path = tmp_path / "pilot.onnx"
        assert run_cli("export", run, "--onnx", path)[0] == 0
    car = FakeVehicle(rate_hz=10.0)  # the recording's own rate
    pilot = TimesteerPilot(path, throttle=0.25, clock=lambda: car.t)
    car.add(pilot, inputs=["cam/image_array"], outputs=["pilot/angle", "pilot/throttle"], run_condition="run_pilot")
    rec = Recording.open(stream_rec)
    natives = _natives(stream_rec, 8)
    reference = Steerer.from_run(run)
    expected = [reference.step_shaped(np.asarray(rec.frames[i])) for i in range(8)]

    car.memory["run_pilot"] = True
    car.loop(natives[:4])
    assert pilot.steerer.frames_seen == 4 and car.memory["pilot/throttle"] == 0.25
    assert car.memory["pilot/angle"] == pytest.approx(np.clip(expected[3], -1, 1), abs=1e-4)
    car.memory["run_pilot"] = False  # user mode for a while: the part is not called
    car.loop(natives[:10])
    car.memory["run_pilot"] = True  # switched on again: a new drive, from a fresh state
    car.loop(natives[4:5])
    assert pilot.steerer.frames_seen == 1
    fresh = Steerer.from_run(run)
    assert car.memory["pilot/angle"] == pytest.approx(np.clip(fresh.step_shaped(np.asarray(rec.frames[4])), -1, 1),
                                                      abs=1e-4)
    car.stop()
    assert pilot.run(None) == (0.0, 0.0)


def test_radian_models_need_the_cars_full_lock(tmp_path):
    from timesteer.sim import Conditions, RecordConfig, record_sim
    from timesteer.train import TrainConfig, train

    rec = record_sim(RecordConfig(seeds=[1], out=str(tmp_path / "rec"), laps=0.03, conditions=Conditions(),
                                  workers=1, progress=False))
    train(TrainConfig(data=str(rec), out=str(tmp_path / "run"), model="pilotnet", epochs=1, batch_frames=16,
                      progress=False, tensorboard=False))
    with pytest.raises(TimesteerError, match="max_steering_rad"):
        TimesteerPilot(tmp_path / "run")
    pilot = TimesteerPilot(tmp_path / "run", max_steering_rad=0.4, clock=lambda: 0.0)
    frame = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    angle, _ = pilot.run(frame)
    # Radians over the car's full lock: the model's own answer, scaled (run() clips, so a bound proves nothing).
    steerer = Steerer.from_run(tmp_path / "run")
    assert steerer.to_rad is not None
    assert angle == pytest.approx(np.clip(steerer.step(frame, 0.0) * steerer.to_rad / 0.4, -1, 1), abs=1e-5)


def test_a_frame_that_comes_again_is_not_a_step(stream_runs, stream_rec):
    # A camera at half the loop's rate: every frame comes twice, stamped with the loop's clock. The pilot
    # must steer as one fed each frame once, when it first came (the held calls answer the last angle).
    run, natives = stream_runs["cnn_gru"], _natives(stream_rec, 5)
    t = {"now": 0.0}
    pilot = TimesteerPilot(run, clock=lambda: t["now"])
    reference = TimesteerPilot(run, clock=lambda: t["now"])
    angles, expected = [], []
    for k, frame in enumerate(natives):
        for repeat in range(2):
            t["now"] = (2 * k + repeat) * 0.1  # the recording's own 10 Hz loop
            angles.append(pilot.run(frame.copy())[0])  # a fresh array each loop, as a camera part may give
            if repeat == 0:
                expected.append(reference.run(frame)[0])
            else:
                expected.append(expected[-1])
    assert pilot.repeats == len(natives) and reference.repeats == 0
    assert pilot.steerer.frames_seen == len(natives)
    assert angles == pytest.approx(expected, abs=1e-6)
    # Stepped twice, a frame shows the model a car that did not move: not what the pilot steered.
    stepped = Steerer.from_run(run)
    plain = [stepped.step(f, 0.1 * i) for i, f in enumerate(np.repeat(np.stack(natives), 2, axis=0))]
    assert max(abs(a - b) for a, b in zip(np.clip(plain, -1, 1), angles, strict=True)) > 1e-4


def test_a_refilled_buffer_and_a_still_camera_are_stepped(stream_runs, stream_rec):
    run, (f0, f1) = stream_runs["cnn_gru"], _natives(stream_rec, 2)
    t = {"now": 0.0}
    pilot = TimesteerPilot(run, clock=lambda: t["now"], pause_reset_s=0.5)
    buffer = f0.copy()
    pilot.run(buffer)
    buffer[:] = f1  # the camera part writes its next frame into the same array: a new picture
    t["now"] = 0.1
    pilot.run(buffer)
    assert pilot.repeats == 0 and pilot.steerer.frames_seen == 2
    # The same picture for longer than pause_reset_s: a car standing still, stepped again from a fresh state.
    for now in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        t["now"] = now
        angle, _ = pilot.run(f1.copy())
    assert pilot.repeats == 5 and pilot.steerer.frames_seen == 1  # the Steerer reset on the pause, then stepped
    assert angle == pytest.approx(np.clip(Steerer.from_run(run).step(f1, 0.0), -1, 1), abs=1e-5)
