"""CarRacing: the expert completes a lap, record-sim writes a proper recording without the dashboard,
noise records the expert's corrections, drives count interventions, and seeds are checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import run_cli
from timesteer.data import Recording
from timesteer.errors import ConfigError
from timesteer.sim import (
    DriveConfig,
    EpisodeConfig,
    RecordConfig,
    autonomy_pct,
    drive,
    parse_seeds,
    record_sim,
    run_episode,
)
from timesteer.sim.carracing import DASHBOARD_ROWS, CarRacingSim
from timesteer.sim.conditions import Conditions
from timesteer.train import TrainConfig, train


def test_parse_seeds():
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    for bad in ("3-1", "a-b", "1,1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def _torch_threads(_item: int) -> int:
    import torch

    return torch.get_num_threads()


def test_tracks_run_here_at_one_torch_thread_and_the_setting_comes_back():
    # As in a spawned worker: two drives side by side must not each ask torch for every core.
    import torch

    from timesteer.sim.parallel import run_parallel

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        assert run_parallel(_torch_threads, [1, 2], 1, (), "t", progress=False) == [1, 1]
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_autonomy_formula():
    assert autonomy_pct(0, 100.0) == 100.0
    assert autonomy_pct(2, 120.0) == pytest.approx(90.0)
    assert autonomy_pct(30, 60.0) == 0.0  # floored: more rescue time than driving


def test_expert_completes_a_lap_without_leaving_the_road():
    result = run_episode(7, EpisodeConfig(laps=1.0))
    m = result.metrics()
    assert m["laps_completed"] == 1 and m["interventions"] == 0 and m["autonomy_pct"] == 100.0
    assert result.progress_m >= result.track_length_m
    assert m["max_offset_m"] < CarRacingSim(7).track.half_width_m / 2


def test_a_car_that_always_steers_right_is_rescued_and_counted():
    resets = []
    result = run_episode(3, EpisodeConfig(laps=1.0, max_seconds=12.0), policy=lambda obs, t: 0.4,
                         on_reset=lambda: resets.append(1))
    assert result.interventions >= 1
    assert len(resets) == result.interventions + 1  # once at the start, once per rescue
    assert result.metrics()["autonomy_pct"] < 100.0
    # CarRacing knows one way out: the offset.
    assert result.metrics()["interventions_by_cause"] == {"left lane": result.interventions}
    # After each rescue the car is back on the road: the offset right after is small.
    assert min(result.offsets_m) < 1.0


@pytest.fixture(scope="module")
def sim_rec(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "rec"
    return record_sim(RecordConfig(seeds=[1, 2], out=str(out), laps=0.15, conditions=Conditions(noise=0.8), workers=2,
                                   progress=False))


def test_record_sim_writes_a_recording(sim_rec):
    rec = Recording.open(sim_rec)
    m = rec.manifest
    assert m.source.format == "carracing" and m.source.details["seeds"] == [1, 2]
    assert (m.frame.height, m.frame.width, m.frame.source_height, m.frame.crop_bottom) == (84, 96, 96, DASHBOARD_ROWS)
    assert m.steering.unit == "rad" and m.fps == pytest.approx(25.0)
    assert len(m.segments) >= 2  # one per episode at least
    assert {"timestamp_s", "steering", "speed", "segment"} <= set(rec.signals)
    assert np.all(np.abs(rec.steering) <= 0.4 + 1e-9)
    # Without the dashboard: the bottom rows are road and grass, not the black instrument panel.
    assert rec.frames[:, -4:].mean() > 60
    # Noise: what was executed differs from the recorded label, which is the expert's correction.
    executed = rec.signals["executed_steering"]
    assert np.mean(np.abs(executed - rec.signals["driver_steering"]) > 1e-6) > 0.05
    assert rec.signals["speed"].max() > 5


def test_drive_a_trained_model_and_warn_about_training_tracks(sim_rec, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(data=str(sim_rec), out=str(run), model="pilotnet", epochs=1, batch_frames=32,
                      progress=False, tensorboard=False))
    result = drive(DriveConfig(run=str(run), seeds=[2, 11], laps=0.1, workers=2, video_dir=str(tmp_path / "v"),
                               progress=False))
    assert {"autonomy_pct", "interventions", "laps_completed", "mean_offset_m", "tracks"} <= set(result)
    assert [t["seed"] for t in result["tracks"]] == [2, 11]
    assert result["seeds_overlap_training"] == ["2"]
    assert all((tmp_path / "v" / f"run-track{s}.mp4").stat().st_size > 1000 for s in (2, 11))


def test_a_drive_steers_with_the_lead_head_for_its_latency(sim_rec, tmp_path):
    from timesteer.sim.drive import format_drive

    run = tmp_path / "heads"
    train(TrainConfig(data=str(sim_rec), out=str(run), model="diffnet", epochs=1, batch_frames=32,
                      max_steps_per_epoch=2, lead_heads_s=(0.1, 0.2), progress=False, tensorboard=False))
    late = drive(DriveConfig(run=str(run), seeds=[11], laps=0.03, workers=1, conditions=Conditions(latency_ms=120.0),
                             progress=False))
    assert late["steer_lead_s"] == 0.1
    assert "learned for 100 ms of latency" in format_drive(late)
    on_time = drive(DriveConfig(run=str(run), seeds=[11], laps=0.03, workers=1, progress=False))
    assert on_time["steer_lead_s"] == 0.0, "no latency: the plain steering, the recording's own"
    assert drive(DriveConfig(run="expert", seeds=[11], laps=0.03, workers=1, progress=False))["steer_lead_s"] is None


def test_cli_drive_expert_json(capsys):
    code, out, err = run_cli("drive", "expert", "--seeds", "4", "--laps", "0.1", "--workers", "1", "--json",
                             "--quiet", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["autonomy_pct"] == 100.0 and result["tracks"][0]["distance_m"] > 0


def test_drive_refuses_a_model_trained_on_other_frames(tmp_path, capsys):
    from tests.helpers import make_recording

    rec = make_recording(tmp_path / "rec", n=64)
    train(TrainConfig(data=str(rec), out=str(tmp_path / "run"), model="mean", epochs=1, progress=False,
                      tensorboard=False))
    code, _, err = run_cli("drive", tmp_path / "run", "--seeds", "1", capsys=capsys)
    assert code == 2 and "record-sim" in err


def test_drive_disturbances_push_the_car_around():
    """Pushes the driver does not cancel move the car; the expert, who knows them, cancels them."""
    from timesteer.sim.conditions import Events

    events = Events(5, Conditions(noise=0.6), 20.0, 0.04)
    pulses = [p for p in events.pulses if p.start_s < 12.0]
    assert pulses and all(abs(p.steer_rad) <= 0.6 * 0.4 + 1e-9 for p in pulses)
    straight = run_episode(5, EpisodeConfig(laps=0.3, max_seconds=12.0), policy=lambda obs, t: 0.0)
    pushed = run_episode(5, EpisodeConfig(laps=0.3, max_seconds=12.0, conditions=Conditions(noise=0.6)),
                         policy=lambda obs, t: 0.0)
    executed = np.asarray(pushed.executed_rad)
    assert np.abs(executed).max() > 0.05 and np.abs(np.asarray(straight.executed_rad)).max() < 1e-9
    calm = drive(DriveConfig(run="expert", seeds=[5], laps=0.3, workers=1, progress=False))
    expert_pushed = drive(DriveConfig(run="expert", seeds=[5], laps=0.3, conditions=Conditions(noise=0.6), workers=1,
                                      progress=False))
    assert expert_pushed["interventions"] == 0
    assert expert_pushed["mean_offset_m"] < 2 * calm["mean_offset_m"] + 0.2


def test_the_camera_does_not_show_the_wheels_angle():
    # The same state steered full left and full right: the frames differ where the world moved, never
    # in the covered car, which is one flat colour (the wheels drawn at their angle would show the push).
    from timesteer.sim.carracing import BONNET_RGB, CAR_COLS, CAR_ROWS, CarRacingSim

    frames = []
    for steer in (-0.4, 0.4):
        sim = CarRacingSim(1)
        try:
            while sim.t_s < 1.5:
                sim.physics_step(0.0, 12.0)
            for _ in range(6):
                sim.physics_step(steer, 12.0)
            assert abs(sim.wheel_angle_rad) > 0.3
            frames.append(sim.camera())
        finally:
            sim.close()
    left, right = frames
    assert (left[CAR_ROWS, CAR_COLS] == BONNET_RGB).all() and (right[CAR_ROWS, CAR_COLS] == BONNET_RGB).all()
    around = np.zeros(left.shape[:2], bool)  # the car's surroundings, the cover excluded
    around[56:84, 34:62] = True
    around[CAR_ROWS, CAR_COLS] = False
    for frame in frames:  # no pixel of the red car (or its blended edge) or a black wheel outside the cover
        body = (frame[..., 0] > 120) & (frame[..., 1] < 90)
        wheel = frame.astype(int).sum(axis=-1) < 60
        assert not (body | wheel)[around].any()


def test_carracings_constants_are_gymnasiums():
    """carracing.py writes gymnasium's values down so that importing it needs no gymnasium: they must agree."""
    from gymnasium.envs.box2d import car_dynamics, car_racing

    from timesteer.sim import carracing

    assert carracing.FPS == car_racing.FPS
    assert carracing.OBS_SIZE == (car_racing.STATE_H, car_racing.STATE_W)
    assert carracing.CAR_SIZE == car_dynamics.SIZE


def test_record_sim_into_the_video_store(tmp_path):
    """`record-sim --store video` writes the same drive as raw frames would be, within the codec's error."""
    from timesteer.data import Recording
    from timesteer.sim import Conditions, RecordConfig, record_sim

    recs = {store: Recording.open(record_sim(RecordConfig(seeds=[2], out=str(tmp_path / store), laps=0.03,
                                                          conditions=Conditions(), workers=1, progress=False,
                                                          store=store)))
            for store in ("npy", "video")}
    assert recs["video"].manifest.cameras[0].file == "frames.mp4"
    np.testing.assert_array_equal(recs["video"].steering, recs["npy"].steering)
    raw, video = np.asarray(recs["npy"].frames).astype(np.float32), np.asarray(recs["video"].frames)
    assert video.shape == raw.shape and np.abs(video - raw).mean() < 4.0
