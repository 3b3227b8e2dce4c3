"""Time warp: stretches of a drive shown at 2x and 0.5x, never outside their span, never far from real
time, so the training plan is unchanged and only the size of the motion between frames varies."""

from __future__ import annotations

import numpy as np

from timesteer.data.timewarp import MAX_DRIFT_FRAMES, warp_index


def test_no_warp_is_the_identity():
    assert np.array_equal(warp_index(50, [(0, 20), (25, 50)], 0.0, np.random.default_rng(0)), np.arange(50))


def test_a_warped_drive_stays_in_its_span_in_order_and_near_real_time():
    spans = [(0, 400), (400, 1000), (1200, 2000)]
    index = warp_index(2100, spans, 0.5, np.random.default_rng(1))
    assert np.array_equal(index[1000:1200], np.arange(1000, 1200)) and np.array_equal(index[2000:], np.arange(2000,
                                                                                                               2100))
    for a, b in spans:
        part = index[a:b]
        assert part.min() >= a and part.max() <= b - 1
        steps = np.diff(part)
        assert steps.min() >= 0 and steps.max() <= 3, "monotone; at most a lost frame beside a 2x step"
        assert np.abs(part - np.arange(a, b)).max() <= MAX_DRIFT_FRAMES + 1


def test_half_the_pieces_warped_gives_fast_slow_and_normal_motion():
    index = warp_index(20_000, [(0, 20_000)], 0.5, np.random.default_rng(2))
    steps = np.diff(index)
    share = {k: float(np.mean(steps == k)) for k in (0, 1, 2)}
    # 0.5x pieces repeat every other frame (steps of 0 and 1), 2x pieces skip one (steps of 2)
    assert 0.1 < share[0] < 0.3 and 0.1 < share[2] < 0.3 and share[1] > 0.4, share
    # the same seed gives the same warp: a resumed epoch replays it exactly
    assert np.array_equal(index, warp_index(20_000, [(0, 20_000)], 0.5, np.random.default_rng(2)))


def test_training_with_time_warp_reads_the_warped_frames_and_their_labels():
    import torch

    from timesteer.data.windows import plan_lanes
    from timesteer.train.batches import BatchStream

    n = 200
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2).repeat(3, 3)
    targets = np.arange(n, dtype=np.float64)[:, None]  # label i on frame i
    rng = np.random.default_rng(3)
    plan = plan_lanes([(0, n)], 4, 10, rng)
    warp = warp_index(n, [(0, n)], 1.0, np.random.default_rng(4))
    assert not np.array_equal(warp, np.arange(n))
    for batch in BatchStream([frames], targets, plan, rng, None, warp=warp):
        shown = batch.frames[:, :, 0, 0, 0]  # the frame's value is its own index
        assert torch.equal(shown, batch.targets[..., 0])  # each label belongs to the frame shown
        steps = torch.diff(shown, dim=1)
        assert steps.min() >= 0


def test_a_lead_heads_label_is_the_frame_the_lane_shows_its_lead_later():
    """A head trained for a 0.1 s latency must lead by 0.1 s of the time the lane sees: in a stretch at 2x
    that is twice as many recorded frames, at 0.5x half as many (not its lead counted in recorded frames)."""
    import torch

    from timesteer.data.windows import plan_lanes
    from timesteer.train.batches import BatchStream
    from timesteer.train.dataset import lead_index

    n, lead = 240, 3
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2).repeat(3, 3)
    steering = np.arange(n, dtype=np.float64)  # steering i on frame i
    steer_frames = np.stack([np.arange(n), lead_index(n, [(0, n)], lead)])  # the plain label, the head's
    targets = steering[steer_frames].T
    warp = warp_index(n, [(0, n)], 1.0, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    plan = plan_lanes([(0, n)], 4, 12, rng)
    compared = ahead = 0
    for batch in BatchStream([frames], targets, plan, rng, None, warp=warp, steer_columns=2,
                             steer_frames=steer_frames, steering=steering):
        shown = batch.frames[:, :, 0, 0, 0].double()
        head = batch.targets[..., 1].double()
        assert torch.equal(batch.targets[..., 0].double(), shown), "the plain label is the frame's own"
        assert torch.equal(head[:, : -lead], shown[:, lead:]), "the head's: the frame shown `lead` later"
        compared += head[:, : -lead].numel()
        ahead += int((head - shown > lead).sum())  # further than `lead` recorded frames: a 2x stretch
    assert compared > 100 and ahead > 10, (compared, ahead)
    # a plain label that leads too (`label_lead_s`): the frame shown its lead later, like a head's
    leading = np.stack([lead_index(n, [(0, n)], 2), lead_index(n, [(0, n)], lead)])
    for batch in BatchStream([frames], steering[leading].T, plan_lanes([(0, n)], 4, 12, rng), rng, None, warp=warp,
                             steer_columns=2, steer_frames=leading, steering=steering):
        shown = batch.frames[:, :, 0, 0, 0].double()
        assert torch.equal(batch.targets[:, :-2, 0].double(), shown[:, 2:])
    # without time warp the labels are the targets as loaded
    for batch in BatchStream([frames], targets, plan_lanes([(0, n)], 4, 12, rng), rng, None, steer_columns=2,
                             steer_frames=steer_frames, steering=steering):
        shown = batch.frames[:, :, 0, 0, 0].double()
        assert torch.equal(batch.targets[..., 1].double(), torch.clamp(shown + lead, max=n - 1))
