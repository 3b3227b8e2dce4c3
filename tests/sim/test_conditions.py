"""Driving conditions, exactly: latency to the physics step, lost frames repeated with their own time,
the same events for every driver on a track, the named sets; and the statistics over tracks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.sim.fake import StraightRoad, frame_step
from timesteer.errors import ConfigError
from timesteer.sim import CONDITIONS, Conditions, EpisodeConfig, conditions_from, paired, run_episode, track_interval
from timesteer.sim.conditions import Events
from timesteer.sim.expert import Expert, predict_pose


def drive_fake(policy, conditions: Conditions, seed: int = 1, seconds: float = 4.0, **kw):
    sims: list[StraightRoad] = []

    def make(s: int) -> StraightRoad:
        sims.append(StraightRoad(s, **kw))
        return sims[-1]

    result = run_episode(seed, EpisodeConfig(laps=100, max_seconds=seconds, conditions=conditions), policy,
                         make_sim=make)
    return result, sims[0]


@pytest.mark.parametrize("latency_ms", [0.0, 40.0, 100.0, 160.0])
def test_a_command_acts_exactly_latency_later(latency_ms):
    """The policy answers each frame with a command naming the frame's physics step; the wheels must
    get that command at exactly step + latency / 20 ms, never earlier."""
    start = 0  # the fake simulator has no warm-up: frames from its first step

    def policy(frame: np.ndarray, t_s: float) -> float:
        return 1e-3 * frame_step(frame)

    _, sim = drive_fake(policy, Conditions(latency_ms=latency_ms), seconds=2.0, half_width_m=100.0)
    executed = np.asarray(sim.steer_log[start:])
    lag = round(latency_ms / 20.0)
    for i in range(0, len(executed), 2):  # a frame every 2 physics steps
        acts_at = i + lag
        if acts_at < len(executed):
            assert executed[acts_at] == pytest.approx(1e-3 * (start + i)), (i, lag)
            if lag > 0 and acts_at - 1 >= 0 and i >= 2:
                assert executed[acts_at - 1] == pytest.approx(1e-3 * (start + i - 2))  # not a step early


def test_a_lost_frame_repeats_the_last_one_with_its_own_timestamp():
    seen: list[tuple[int, float]] = []

    def policy(frame: np.ndarray, t_s: float) -> float:
        seen.append((frame_step(frame), t_s))
        return 0.0

    result, _ = drive_fake(policy, Conditions(drop_frames=0.3), seconds=6.0)
    lost = np.asarray(result.dropped)
    assert 0.15 < lost.mean() < 0.45  # about the fraction asked for
    for k, was_lost in enumerate(lost):
        if was_lost:
            assert seen[k] == seen[k - 1]  # the same frame again, with the same capture time
        else:
            assert seen[k][1] == pytest.approx(result.times_s[k])
            assert seen[k][0] == 2 * k  # the frame the camera took now
    # Losses come in bursts: two in a row happen more often than independent losses would give.
    pairs = np.mean(lost[1:] & lost[:-1])
    assert pairs > 1.2 * lost.mean() ** 2


def test_two_drivers_on_one_track_meet_the_same_events():
    cond = Conditions(noise=0.6, drop_frames=0.2)
    calm, _ = drive_fake(lambda f, t: 0.0, cond, seed=4)
    wild, sim = drive_fake(lambda f, t: 0.4 * np.sin(t), cond, seed=4, half_width_m=0.3)
    assert sim.put_backs > 0  # the second driver was rescued, which shifts no event
    n = min(len(calm.dropped), len(wild.dropped))
    # The same slots lose their frame, except the first frame after a rescue: nothing to repeat then.
    after_rescue = set(wild.breaks)
    assert any(calm.dropped) and all(calm.dropped[k] == wild.dropped[k] for k in range(n) if k not in after_rescue)
    a = Events(4, cond, 10.0, 0.04)
    b = Events(4, cond, 10.0, 0.04)
    other = Events(5, cond, 10.0, 0.04)
    assert [(p.start_s, p.steer_rad) for p in a.pulses] == [(p.start_s, p.steer_rad) for p in b.pulses]
    assert [(p.start_s, p.steer_rad) for p in a.pulses] != [(p.start_s, p.steer_rad) for p in other.pulses]
    assert all(a.disturbance(t) == b.disturbance(t) for t in np.arange(0, 10, 0.01))


def test_named_conditions_and_overrides():
    hard = CONDITIONS["hard"]
    assert (hard.noise, hard.latency_ms, hard.drop_frames, hard.speed_scale) == (0.6, 100.0, 0.1, 1.2)
    assert conditions_from() == Conditions()
    assert conditions_from("hard", latency_ms=50.0).latency_ms == 50.0
    assert conditions_from("hard", latency_ms=None) == hard
    with pytest.raises(ConfigError, match="unknown set"):
        conditions_from("rainy")
    with pytest.raises(ConfigError, match="latency_ms"):
        Conditions(latency_ms=-1)


def test_the_expert_anticipates_its_own_delayed_commands():
    """With 300 ms of latency, pure pursuit from where the car is now keeps correcting what its queued
    commands already correct, and swings across the lane for ever; predicting where they take the car
    (the expert) settles after the road jogs sideways."""
    assert predict_pose(10.0, 0.0, [0.0] * 5, 0.02, 3.0)[:2] == pytest.approx((1.0, 0.0))
    _, y, heading = predict_pose(10.0, 0.0, [0.2] * 10, 0.02, 3.0)
    assert y < 0 and heading < 0  # steering right: the car ends up right of where it was heading

    def tail_offset(reactive: bool) -> float:
        sims: list[StraightRoad] = []

        def make(seed: int) -> StraightRoad:
            sims.append(StraightRoad(seed, half_width_m=5.0, speed_mps=15.0, jog_at_m=60.0, jog_m=3.0))
            return sims[-1]

        expert = Expert()
        policy = (lambda frame, t: expert.steer_rad(sims[0])) if reactive else None
        result = run_episode(1, EpisodeConfig(laps=100, max_seconds=10.0, conditions=Conditions(latency_ms=300.0)),
                             policy, make_sim=make)
        assert result.interventions == 0
        return float(np.mean(result.offsets_m[-200:]))  # the last 4 s

    assert tail_offset(reactive=False) < 0.02
    assert tail_offset(reactive=True) > 0.2


def test_track_interval_and_paired_comparison():
    tracks_a = [{"seed": s, "interventions": n, "elapsed_s": 60.0, "autonomy_pct": 100 * (1 - 6 * n / 60)}
                for s, n in enumerate([0, 0, 1, 0, 0, 0, 1, 0])]
    tracks_b = [{"seed": s, "interventions": n, "elapsed_s": 60.0, "autonomy_pct": 100 * (1 - 6 * n / 60)}
                for s, n in enumerate([2, 1, 3, 2, 1, 2, 3, 2])]
    ci = track_interval(tracks_a)
    assert ci["autonomy_ci95"][0] <= ci["autonomy_pct"] <= ci["autonomy_ci95"][1]
    assert ci["autonomy_pct"] == pytest.approx(100 * (1 - 12 / 480))
    assert ci["interventions_per_1000s"] == pytest.approx(1000 * 2 / 480)
    d = paired(tracks_a, tracks_b)
    assert d["a_better"] and not d["b_better"] and d["autonomy_diff_ci95"][0] > 0
    assert d["tracks_a_better"] == 8
    same = paired(tracks_a, tracks_a)
    assert same["autonomy_diff_pct"] == 0 and not same["a_better"] and not same["b_better"]
