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


@pytest.mark.parametrize("source", ["run", "onnx"])
def test_a_pilot_in_a_vehicle_loop(stream_runs, stream_rec, tmp_path, source):
    from PIL import Image

    from timesteer.data import Recording
    from timesteer.data.importers.udacity_sim import parse

    run = stream_runs["cnn_gru"]
    path = run
    if source == "onnx":
        path = tmp_path / "pilot.onnx"
        assert run_cli("export", run, "--onnx", path)[0] == 0
    car = FakeVehicle(rate_hz=10.0)  # the recording's own rate
    pilot = TimesteerPilot(path, throttle=0.25, clock=lambda: car.t)
    car.add(pilot, inputs=["cam/image_array"], outputs=["pilot/angle", "pilot/throttle"], run_condition="run_pilot")
    rec = Recording.open(stream_rec)
    natives = [np.asarray(Image.open(p).convert("RGB")) for p in
               parse(__import__("pathlib").Path(rec.manifest.source.path)).cameras[0].frames.paths[:8]]
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
