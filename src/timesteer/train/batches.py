"""Training batches, assembled on a background thread while the model trains on the previous one.

For each step of a `Plan`, read each lane's frames from the memory-mapped camera arrays, draw
augmentation parameters for the lanes that start a new sequence, augment, and hand over tensors. The
main loop measures how long it waits here (`wait_s`), which the run reports as data-wait time.

On a GPU the frames travel as uint8 (a quarter of the bytes of float) and are converted and augmented
there: on an H200 the CPU-side float conversion and augmentation held training at about 4,000 frames/s
with the GPU waiting three quarters of the time (BENCHMARKS.md, "The CUDA path").
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from timesteer.data import augment
from timesteer.data.augment import AugmentConfig, LaneParams
from timesteer.data.push import PushSource
from timesteer.data.windows import Plan


@dataclass
class Batch:
    frames: torch.Tensor  # (B, warmup + L, C, H, W) float in [0, 255]
    targets: torch.Tensor  # (B, L, K) in recording units, steering first
    reset: torch.Tensor  # (B,) bool
    warmup: int
    commands: torch.Tensor | None = None  # (B, warmup + L) the command in effect per frame (mirrored with the frame)
    weights: torch.Tensor | None = None  # (B, L) loss weight per target frame (train/keyframes.py)
    distances: torch.Tensor | None = None  # (B, warmup + L) distance since the frame shown before (motion_per_distance)


class BatchStream:
    """Iterate once over `plan`'s steps; production runs ahead on a thread, `prefetch` batches deep."""

    def __init__(self, cameras: list[np.ndarray], targets: np.ndarray, plan: Plan, rng: np.random.Generator,
                 aug: AugmentConfig | None, side_offset: float = 0.0, lanes: slice | None = None,
                 prefetch: int = 3, commands: np.ndarray | None = None, device: torch.device | None = None,
                 warp: np.ndarray | None = None, weights: np.ndarray | None = None,
                 pushes: PushSource | None = None, distances: np.ndarray | None = None,
                 steer_columns: int = 1, steer_frames: np.ndarray | None = None,
                 steering: np.ndarray | None = None) -> None:
        self.cameras = cameras
        self.steer_columns = steer_columns  # targets' first columns that are steering (the lead heads')
        # The distance travelled up to each frame index, so that the distance between any two frames shown
        # one after the other (a time warp skips or repeats frames) is a difference.
        self.travelled = np.cumsum(distances, dtype=np.float64) if distances is not None else None
        self.distances = distances
        self.weights = weights  # (N,) loss weight per frame index; None: all alike
        self.warp = warp  # frame shown at each frame index (data/timewarp.py); None: the frames themselves
        # A steering label that leads its frame (lead heads, a label lead) under time warp: the steering the
        # lane is shown its lead later, so that the lead holds in the time the lane sees (in a stretch at 2x,
        # twice as many recorded frames; counted in recorded frames it would halve there).
        self.steer_frames = steer_frames if warp is not None and steering is not None else None
        self.steering = steering
        # Where frames are converted and augmented: a CUDA device, or None for the CPU.
        self.device = device if device is not None and device.type == "cuda" else None
        self.targets = targets
        self.commands = commands
        self.plan = plan
        self.rng = rng
        self.aug = aug
        self.side_offset = side_offset
        # Under torchrun each process reads only its `lanes` of the plan, but draws augmentation for all
        # lanes from the shared generator, so every lane looks the same as in a single-process run.
        self.lanes = lanes if lanes is not None else slice(0, plan.lanes)
        self.params = LaneParams.identity(plan.lanes)
        # Pushes only where the run settled on them (train() makes the default explicit; None: none).
        self.pushes = pushes if aug is not None and (aug.push_rate_hz or 0.0) > 0 else None
        self.push_tracks = self.pushes.tracks(plan.lanes, aug) if self.pushes is not None and aug else None
        self.lane_start = np.zeros(plan.lanes, dtype=np.int64)  # each lane's first frame slot since its reset
        self.wait_s = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="timesteer-batches", daemon=True)

    def _make(self, step: int) -> Batch:
        plan = self.plan
        if self.aug is not None:
            self.params.redraw(plan.reset[step], self.aug, self.rng, side_cameras=len(self.cameras) > 1)
        params = self.params.select(self.lanes)
        reset = plan.reset[step][self.lanes]
        slots = plan.starts[step][self.lanes, None] + np.arange(-plan.warmup, plan.seq_len)  # (B, warmup + L)
        idx = self.warp[slots] if self.warp is not None else slots  # the frames shown, and their labels
        frames = np.empty((len(idx), idx.shape[1], *self.cameras[0].shape[1:]), dtype=np.uint8)
        for cam in np.unique(params.camera):
            lanes = np.flatnonzero(params.camera == cam)
            frames[lanes] = self.cameras[int(cam)][idx[lanes]]
        x = torch.from_numpy(frames)
        y = torch.from_numpy(self._targets(idx[:, plan.warmup :], slots[:, plan.warmup :]))  # (B, L, K)
        c = torch.from_numpy(self.commands[idx].astype(np.float32)) if self.commands is not None else None
        w = torch.from_numpy(self.weights[idx[:, plan.warmup :]]) if self.weights is not None else None
        m = torch.from_numpy(self._distances(idx)) if self.distances is not None else None
        if self.device is not None:  # uint8 through pinned memory; the rest happens on the GPU, in stream order
            x, y = (t.pin_memory().to(self.device, non_blocking=True) for t in (x, y))
            c = c.to(self.device) if c is not None else None
            m = m.to(self.device) if m is not None else None
        x = x.permute(0, 1, 4, 2, 3).float()  # (B, W+L, C, H, W), channels-last memory
        if self.push_tracks is not None:
            x, y = self._push(step, idx, x, y)
        if self.aug is not None:
            s = self.steer_columns
            x, steer = augment.apply(x, y[..., :s], params, self.aug, self.side_offset)  # every steering column
            y = torch.cat([steer, y[..., s:]], dim=-1)
            if c is not None and params.flip.any():  # a mirrored picture was driven with the mirrored command
                c = torch.where(torch.as_tensor(params.flip, device=c.device).view(-1, 1), -c, c)
        return Batch(x, y, torch.from_numpy(reset.copy()), plan.warmup, c, w, m)

    def _targets(self, idx: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """(B, L, K) float32: the labels of the frames shown `idx` at the lanes' `slots`; under time warp a
        steering column that leads is the steering of the frame the lane shows at its lead (`steer_frames`)."""
        y = self.targets[idx].astype(np.float32)
        if self.steer_frames is not None:
            assert self.warp is not None and self.steering is not None
            for k, frames in enumerate(self.steer_frames):
                y[..., k] = self.steering[self.warp[frames[slots]]]
        return y

    def _distances(self, idx: np.ndarray) -> np.ndarray:
        """(B, T) the distance between each frame shown and the one shown before it (the first: its own
        distance since the frame before it). A frame shown twice moved 0; one skipped adds its distance."""
        assert self.distances is not None and self.travelled is not None
        d = np.empty(idx.shape, dtype=np.float32)
        d[:, 0] = self.distances[idx[:, 0]]
        d[:, 1:] = self.travelled[idx[:, 1:]] - self.travelled[idx[:, :-1]]
        return d

    def _push(self, step: int, idx: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Move the car in the pictures as each lane's pushes would, and correct the steering labels."""
        plan, pushes, tracks = self.plan, self.pushes, self.push_tracks
        assert pushes is not None and tracks is not None
        reset = plan.reset[step]
        tracks.restart(reset, self.rng)  # every lane, as augmentation draws, so torchrun's processes agree
        self.lane_start[reset] = plan.starts[step][reset]
        lanes = np.arange(plan.lanes)[self.lanes]
        slots = plan.starts[step][lanes, None] + np.arange(-plan.warmup, plan.seq_len) - self.lane_start[lanes, None]
        # At the speed recorded at the frames shown, also in time warp's stretches: pushes at the speed a stretch
        # is shown at (half or twice) were tried and cost 15 points closed loop (BENCHMARKS.md, "Lead heads in
        # time warp's time").
        moved = np.stack([tracks.at(int(lane), slots[i], pushes.speeds_mps[idx[i]]) for i, lane in enumerate(lanes)])
        m = torch.from_numpy(moved).to(x.device)  # (B, W+L, 3): offset, heading, correction
        x = pushes.view.move(x, m[..., 0], m[..., 1])
        leads = (pushes.lead_frames, *pushes.head_lead_frames)  # one per steering column
        steer = []
        for k, lead in enumerate(leads):
            ahead = slots[:, plan.warmup :] + lead  # a label leading its picture: the correction then
            correction = np.stack([tracks.at(int(lane), ahead[i], pushes.speeds_mps[idx[i, plan.warmup :]])[:, 2]
                                   for i, lane in enumerate(lanes)])
            steer.append(y[..., k] + (torch.from_numpy(correction).to(x.device) / pushes.to_rad).to(y.dtype))
        return x, torch.cat([torch.stack(steer, dim=-1), y[..., len(leads) :]], dim=-1)

    def _produce(self) -> None:
        try:
            for step in range(self.plan.steps):
                if self._stop.is_set():
                    return
                self._queue.put(self._make(step))
            self._queue.put(None)
        except BaseException as exc:  # hand the error to the consumer rather than dying silently
            self._queue.put(exc)

    def __iter__(self) -> Iterator[Batch]:
        self._thread.start()
        try:
            while True:
                t0 = time.perf_counter()
                item = self._queue.get()
                self.wait_s += time.perf_counter() - t0
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)
