"""Training, top to bottom: data and split, model and normalisation, optimiser, then epochs of
truncated backpropagation through time with validation, checkpoints and early stopping.

    from timesteer.train import TrainConfig, train
    result = train(TrainConfig(data="REC", out="RUN", model="cnn_gru", epochs=20))

The same function runs on CPU, one GPU, or under torchrun (each process trains its share of the lanes;
gradients are averaged by DDP). Every epoch ends with `last.pt` written atomically, and `best.pt`
when validation improves; `train(config, resume=True)` continues exactly where `last.pt` left off.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from timesteer import __version__
from timesteer.allocator import keep_freed_memory
from timesteer.config import from_dict, to_dict
from timesteer.data.augment import DEFAULT_PUSH_RATE_HZ
from timesteer.data.timewarp import warp_index
from timesteer.data.windows import Plan, min_chunks, plan_lanes, plan_windows
from timesteer.errors import ConfigError, TimesteerError
from timesteer.files import hold, lock_for, refuse_foreign_directory, write_json, writing
from timesteer.models import SteeringModel, create_model, model_config
from timesteer.train.batches import BatchStream
from timesteer.train.checkpoint import (
    checkpoint_field,
    load_checkpoint,
    model_from_payload,
    model_payload,
    save_checkpoint,
)
from timesteer.train.config import TrainConfig
from timesteer.train.dataset import TrainData, load_train_data, normalization
from timesteer.train.distributed import Dist, init_distributed, shutdown_distributed
from timesteer.train.keyframes import keyframe_weights
from timesteer.train.lead_heads import with_default_lead_heads, with_lead_heads_settled
from timesteer.train.logbook import Logbook
from timesteer.train.motion_default import default_motion
from timesteer.train.predict import predict_spans, span_indexes
from timesteer.train.run import RUN_FILE, read_run_info
from timesteer.train.through_time import gradient_norms, recurrence_of
from timesteer.train.warp_default import with_default_time_warp, with_time_warp_settled


@dataclass
class Schedule:
    """How batches are cut for this model: lanes x seq_len frames, state carried or not."""

    stateful: bool
    seq_len: int
    lanes: int  # global, over all processes
    warmup: int

    def plan(self, data: TrainData, epoch_rng: np.random.Generator) -> Plan:
        weights = data.train_span_weights
        if self.stateful:
            return plan_lanes(data.train_spans, self.lanes, self.seq_len, epoch_rng, weights)
        return plan_windows(data.train_spans, self.lanes, self.seq_len, self.warmup, epoch_rng, weights)


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_rmse: float
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)


def uses_time(model: SteeringModel) -> bool:
    """Whether the model sees more than the current frame (a recurrence or a frame history)."""
    return model.is_recurrent or model.context_frames > 0


def with_default_pushes(cfg: TrainConfig, data: TrainData) -> TrainConfig:
    """`cfg` with the default pushes (`augment.push_rate_hz` None) made explicit, as `load_train_data`
    settled them: the run's config (run.json, the checkpoints, `--resume`) says what training did."""
    if cfg.augment.push_rate_hz is not None:
        return cfg
    rate = DEFAULT_PUSH_RATE_HZ if data.pushes is not None else 0.0
    return replace(cfg, augment=replace(cfg.augment, push_rate_hz=rate))


def make_schedule(cfg: TrainConfig, model: SteeringModel, world: int, data: TrainData) -> Schedule:
    has_state = uses_time(model)
    stateful = model.is_recurrent if cfg.stateful is None else cfg.stateful
    seq_len = cfg.seq_len if cfg.seq_len is not None else (16 if model.is_recurrent else 1)
    if seq_len < 1:
        raise ConfigError(f"seq_len: expected >= 1, got {seq_len}")
    warmup = 0 if stateful else max(cfg.burn_in, model.context_frames if has_state else 0)
    lanes = max(world, cfg.batch_frames // seq_len // world * world)
    # A short recording cannot fill a big batch: use the lanes it can fill (the run records how many).
    available = min_chunks(data.train_spans, seq_len, warmup, data.train_span_weights) // world * world
    if available == 0:
        raise ConfigError(f"{data.first.path}: {sum(b - a for a, b in data.train_spans)} training frames are too "
                          f"few for chunks of {warmup + seq_len} frames on {world} process(es)")
    return Schedule(stateful, seq_len, min(lanes, available), warmup)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def loss_terms(out: torch.Tensor, target: torch.Tensor, aux_weight: float,
               weights: torch.Tensor | None = None, steer_columns: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, steering MSE) in standard units; out/target (B, L, K), `weights` (B, L) per frame (keyframe
    weighting) or None. The first `steer_columns` are steering (the plain one, then its lead heads),
    averaged: together they weigh what the plain one weighed alone (a head is the same task, later), so
    the auxiliary targets, the gradient clipping and the learning rate mean what they meant. The MSE
    reported is the plain steering's, unweighted, comparable across settings."""
    err = (out.float() - target) ** 2
    steer = err[..., 0].mean()
    per_column = err[..., :steer_columns].mean(dim=-1)
    steer_loss = (per_column * weights).mean() if weights is not None else per_column.mean()
    loss = steer_loss + (aux_weight * err[..., steer_columns:].mean() if err.shape[-1] > steer_columns else 0.0)
    return loss, steer


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train `cfg.model` into the run directory `cfg.out`. With `resume`, continue the run there from its
    `last.pt` (a run with no checkpoint yet starts again from the beginning)."""
    run_dir = Path(cfg.out)
    refuse_foreign_directory(run_dir, RUN_FILE, "run directory (--out)")
    # Bad input fails here, before anything is created or locked. The defaults that depend on the model or
    # the data are settled here and written into the run's config; `said` keeps a line for each they chose.
    cfg, motion = default_motion(cfg, resume)
    aux = tuple(getattr(model_config(cfg.model, cfg.model_config), "aux", ()))
    probe = create_model(cfg.model, **cfg.model_config)  # a throwaway, for its kind and inputs only
    cfg, heads_said = with_default_lead_heads(cfg, resume)
    data = load_train_data(cfg, aux, uses_time(probe), distances=probe.distance_input,
                           per_second=probe.distance_per_second)
    pushes_said = (f"pushes made in the picture ({DEFAULT_PUSH_RATE_HZ:g} a second), the default for models that "
                   "use time on recordings that know their camera's view; --augment '{\"push_rate_hz\": 0}' turns "
                   "them off") if cfg.augment.push_rate_hz is None and data.pushes is not None else None
    cfg = with_default_pushes(cfg, data)
    cfg, warp_said = with_default_time_warp(cfg, resume, [d.rec for d in data.drives if d.train_spans])
    said = [pushes_said, warp_said, heads_said, motion.describe() if motion is not None else None]
    d, device = init_distributed(cfg.device)
    if d.is_main and cfg.progress and not resume:
        for line in filter(None, said):
            print(f"{cfg.model}: {line}", flush=True)
    try:
        if not d.is_main:
            result = _train(cfg, data, resume, d, device)
        else:
            with writing(run_dir, "run"):
                run_dir.absolute().parent.mkdir(parents=True, exist_ok=True)
            with hold(lock_for(run_dir), str(run_dir)), writing(run_dir, "run"):
                result = _train(cfg, data, resume, d, device)
        # Every rank done before any tears the process group down: a rank that destroyed it while rank 0
        # was still closing its logs once died in gloo's teardown (SIGABRT, "terminate called").
        d.barrier()
        return result
    finally:
        shutdown_distributed(d)


def _absolute(cfg: TrainConfig) -> dict[str, Any]:
    """The config as run.json keeps it: recording paths absolute, so the run can be resumed, evaluated or
    moved from anywhere."""
    def absolute(names: str | list[str] | None) -> str | list[str] | None:
        if names is None:
            return None
        if isinstance(names, str):
            return str(Path(names).absolute())
        return [str(Path(n).absolute()) for n in names]

    return {**to_dict(cfg), "data": absolute(cfg.data), "val": absolute(cfg.val), "init": absolute(cfg.init),
            "out": str(Path(cfg.out).absolute())}


@dataclass
class _Run:
    """Everything an epoch needs, set up once by `_train` (or restored from `last.pt`)."""

    cfg: TrainConfig
    data: TrainData
    d: Dist
    device: torch.device
    run_dir: Path
    model: SteeringModel
    net: torch.nn.Module  # the model, or its DDP wrapper under torchrun
    norm: dict[str, Any]
    schedule: Schedule
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    use_amp: bool
    info: dict[str, Any]  # what run.json says of the run, beside its status
    loss_weights: np.ndarray | None
    measure_gtt: bool
    val_targets: np.ndarray


@dataclass
class _Progress:
    """Where the run stands between epochs: what `last.pt` keeps and `--resume` restores."""

    first_epoch: int = 0
    best_val: float = math.inf
    best_epoch: int = -1
    stale: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _train(cfg: TrainConfig, data: TrainData, resume: bool, d: Dist, device: torch.device) -> TrainResult:
    """The whole run: set up (or restore), then per epoch train, validate, checkpoint, stop early."""
    keep_freed_memory()  # each step's tensors reuse the last step's pages (cnn_gru: 1.5-1.7x on 2 cores)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.out)
    payload = _resume_payload(run_dir, resume, d.is_main)
    run = _set_up(cfg, data, payload, d, device, run_dir)
    progress = _restore(run, payload) if payload is not None else _Progress()
    log = None
    if d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_run(run_dir, {**run.info, "status": "running", "epochs_done": progress.first_epoch,
                             "best_epoch": progress.best_epoch, "best_val_rmse": _finite(progress.best_val)})
        log = Logbook(run_dir, cfg.tensorboard, progress.first_epoch)
    if cfg.grad_through_time and not run.measure_gtt and d.is_main:
        why = "takes its own command (not fed to this measurement)" if run.model.command_input else \
            "has no GRU, LSTM or RNN recurrence to measure"
        print(f"--grad-through-time: {run.model.name} {why}; not measured")

    for epoch in range(progress.first_epoch, cfg.epochs):
        row = _train_one_epoch(run, epoch)
        row["val_rmse"], row["val_mae"] = _validate(run, epoch)
        progress.history.append(row)
        improved = row["val_rmse"] is not None and row["val_rmse"] < progress.best_val
        if improved or row["val_rmse"] is None:
            progress.best_val = row["val_rmse"] if row["val_rmse"] is not None else math.inf
            progress.best_epoch, progress.stale = epoch, 0
        else:
            progress.stale += 1
        stop = cfg.patience > 0 and progress.stale >= cfg.patience
        if d.is_main:
            assert log is not None
            log.write(row)
            _save_epoch(run, progress, epoch, row, improved, stop)
        d.barrier()
        if stop:
            break
    if log is not None:
        log.close()
    return TrainResult(run_dir, progress.best_epoch, progress.best_val, len(progress.history), progress.history)


def _set_up(cfg: TrainConfig, data: TrainData, payload: dict[str, Any] | None, d: Dist, device: torch.device,
            run_dir: Path) -> _Run:
    """Model and normalisation (new, warm-started with --init, or from `last.pt`), batch schedule,
    optimiser and learning-rate schedule, and what run.json will say of the run."""
    model, norm = _model_and_normalization(cfg, data, payload, run_dir)
    model.to(device)
    if device.type != "cuda":
        model.channels_last()
    schedule = make_schedule(cfg, model, d.world, data)
    steps_per_epoch = schedule.plan(data, np.random.default_rng([cfg.seed, 0])).steps
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)

    # Biases and normalisation-free parameters get no weight decay.
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    total = cfg.epochs * steps_per_epoch
    warm = round(cfg.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warm, cfg.min_lr_ratio))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    net: torch.nn.Module = model
    if d.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    info = {
        "timesteer_version": __version__,
        "config": _absolute(cfg),
        "init": str(Path(cfg.init).absolute()) if cfg.init else None,
        "model": {"name": model.name, "config": model.config, "in_shape": list(model.in_shape),
                  "outputs": list(model.outputs), "parameters": sum(p.numel() for p in model.parameters())},
        "data": data.describe(),
        "schedule": {"stateful": schedule.stateful, "seq_len": schedule.seq_len, "lanes": schedule.lanes,
                     "warmup": schedule.warmup, "world_size": d.world, "steps_per_epoch": steps_per_epoch,
                     "device": str(device), "amp": use_amp},
        "normalization": norm,
    }
    loss_weights = keyframe_weights(data.targets[:, 0], data.train_spans, cfg.keyframe_weight) \
        if cfg.keyframe_weight > 0 else None
    return _Run(cfg, data, d, device, run_dir, model, net, norm, schedule, steps_per_epoch, optimizer, scheduler,
                scaler, use_amp, info, loss_weights,
                measure_gtt=cfg.grad_through_time and recurrence_of(model) is not None,
                val_targets=data.val_targets()[span_indexes(data.val_spans), 0])


def _model_and_normalization(cfg: TrainConfig, data: TrainData, payload: dict[str, Any] | None,
                             run_dir: Path) -> tuple[SteeringModel, dict[str, Any]]:
    if payload is not None:
        check_resume(payload, cfg, data, run_dir / "last.pt")
        model = model_from_payload(payload, run_dir / "last.pt")
        return model, checkpoint_field(payload, "normalization", dict, run_dir / "last.pt")
    if cfg.init:
        start = Path(cfg.init) / "best.pt"
        init_payload = load_checkpoint(start)
        model = model_from_payload(init_payload, start)
        if (model.name, list(model.in_shape), list(model.outputs)) != (cfg.model, list(data.in_shape),
                                                                       list(data.outputs)):
            raise TimesteerError(f"{cfg.init}: holds a {model.name} for {model.in_shape} frames and outputs "
                                 f"{list(model.outputs)}; --init needs a {cfg.model} for {data.in_shape} and "
                                 f"{list(data.outputs)}")
        return model, checkpoint_field(init_payload, "normalization", dict, start)
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, in_shape=data.in_shape, outputs=data.outputs, **cfg.model_config)
    norm = normalization(data)
    model.set_normalization(**norm)
    return model, norm


def _restore(run: _Run, payload: dict[str, Any]) -> _Progress:
    """The optimiser, schedules and progress of `last.pt`; refuses a run that has nothing left to do."""
    cfg, where = run.cfg, run.run_dir / "last.pt"
    run.optimizer.load_state_dict(payload["optimizer"])
    run.scheduler.load_state_dict(payload["scheduler"])
    if payload.get("scaler"):
        run.scaler.load_state_dict(payload["scaler"])
    progress = _Progress(
        first_epoch=checkpoint_field(payload, "epoch", int, where) + 1,
        best_val=checkpoint_field(payload, "best_val_rmse", float, where),
        best_epoch=checkpoint_field(payload, "best_epoch", int, where),
        stale=checkpoint_field(payload, "stale_epochs", int, where),
        history=list(checkpoint_field(payload, "history", list, where)))
    if progress.first_epoch >= cfg.epochs:
        raise TimesteerError(f"{run.run_dir}: already at {progress.first_epoch} of {cfg.epochs} epochs; pass "
                             f"--epochs N to go on to N")
    if cfg.patience and progress.stale >= cfg.patience:
        raise TimesteerError(f"{run.run_dir}: stopped early after {progress.stale} epochs without a better "
                             f"validation RMSE (--patience {cfg.patience}); pass a larger --patience (or 0) to go on")
    return progress


def _train_one_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """One pass over this epoch's plan; returns the epoch's row of metrics.csv (validation not yet in)."""
    cfg, data, d, model, device = run.cfg, run.data, run.d, run.model, run.device
    # Everything random in an epoch derives from (seed, epoch): resuming replays it exactly.
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    epoch_rng = np.random.default_rng([cfg.seed, epoch])
    plan = run.schedule.plan(data, epoch_rng)
    plan = Plan(plan.starts[:run.steps_per_epoch], plan.reset[:run.steps_per_epoch], plan.seq_len, plan.warmup)
    # Time warp only where time is used: a single frame has no motion to read.
    warp = warp_index(len(data.targets), data.train_spans, cfg.augment.time_warp, epoch_rng) \
        if uses_time(model) and cfg.augment.time_warp > 0 else None
    stream = BatchStream(data.cameras, data.targets, plan, epoch_rng, cfg.augment, data.side_offset,
                         lanes=slice(d.rank * plan.lanes // d.world, (d.rank + 1) * plan.lanes // d.world),
                         commands=data.commands if model.command_input else None, device=device, warp=warp,
                         weights=run.loss_weights, pushes=data.pushes,
                         distances=data.distances if model.distance_input else None,
                         steer_columns=len(data.steer_leads_s), steer_frames=data.steer_frames,
                         steering=data.steering)
    model.train()
    state, t_start, loss_sum, mse_sum, frames_done = None, time.perf_counter(), 0.0, 0.0, 0
    gtt: list[np.ndarray] = []
    bar = tqdm(total=plan.steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
               disable=not (cfg.progress and d.is_main))
    for batch in stream:
        x = batch.frames.to(device, non_blocking=True)
        c = batch.commands.to(device) if batch.commands is not None else None
        c_hist, c_now = (c[:, : batch.warmup], c[:, batch.warmup :]) if c is not None else (None, None)
        m = batch.distances.to(device) if batch.distances is not None else None
        m_hist, m_now = (m[:, : batch.warmup], m[:, batch.warmup :]) if m is not None else (None, None)
        y = model.standardize_targets(batch.targets.to(device))
        with torch.autocast(device.type, dtype=torch.float16, enabled=run.use_amp):
            if run.schedule.stateful and state is not None:
                state = model.reset_state(state, batch.reset.to(device))
            elif batch.warmup:
                # Frame history / burn-in: build the state from the leading frames, outputs unneeded.
                state = model.prime_state(x[:, : batch.warmup], commands=c_hist, distances=m_hist)
            else:
                state = None
            if run.measure_gtt and len(gtt) < GTT_BATCHES:
                gtt.append(_measure_through_time(model, x[:, batch.warmup :], y, state, m_now))
            out, state = run.net(x[:, batch.warmup :], state, standardized=True, commands=c_now, distances=m_now)
            loss, steer_mse = loss_terms(out, y, cfg.aux_weight,
                                         batch.weights.to(device) if batch.weights is not None else None,
                                         len(data.steer_leads_s))
        _step(run, loss)
        state = tuple(s.detach() for s in state) if run.schedule.stateful else None
        n = y.shape[0] * y.shape[1]
        loss_sum += loss.item() * n
        mse_sum += steer_mse.item() * n
        frames_done += n
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / frames_done:.4f}",
                        fps=f"{frames_done * d.world / (time.perf_counter() - t_start):.0f}")
    bar.close()
    seconds = time.perf_counter() - t_start
    if not math.isfinite(loss_sum):
        raise TimesteerError(f"{run.run_dir}: epoch {epoch + 1}: the training loss is not finite; lower --lr or "
                             f"check the data (the run keeps its last good epoch)")
    target_std = float(model.target_std[0])
    row = {
        "epoch": epoch + 1, "train_loss": d.mean(loss_sum / max(1, frames_done)),
        "train_rmse": math.sqrt(d.mean(mse_sum / max(1, frames_done))) * target_std,
        "val_rmse": None, "val_mae": None, "lr": run.scheduler.get_last_lr()[0],
        "frames": frames_done * d.world, "seconds": seconds, "frames_per_s": frames_done * d.world / seconds,
        "data_wait_fraction": stream.wait_s / seconds, "peak_rss_mib": peak_rss_mib(),
    }
    if gtt:
        row["grad_through_time"] = " ".join(f"{v:.4g}" for v in np.nanmean(np.stack(gtt), axis=0))
    return row


def _step(run: _Run, loss: torch.Tensor) -> None:
    """Backward, clip, optimiser and learning-rate step (through the fp16 gradient scaler on CUDA)."""
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.optimizer)
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    scale = run.scaler.get_scale() if run.use_amp else 1.0
    run.scaler.step(run.optimizer)
    run.scaler.update()
    # A step whose fp16 gradients overflowed is skipped (and the scale lowered); so is its place in the
    # learning-rate schedule (also what keeps PyTorch from warning about the order).
    if not run.use_amp or run.scaler.get_scale() >= scale:
        run.scheduler.step()


def _validate(run: _Run, epoch: int) -> tuple[float | None, float | None]:
    """RMSE and MAE on the validation spans, on rank 0, in time order with the state carried (the way
    the model drives); every rank gets the RMSE (early stopping is decided alike everywhere)."""
    val_rmse = val_mae = None
    if run.d.is_main and run.data.val_spans:
        pred = predict_spans(run.model, run.data.val_frames, run.data.val_spans, run.device,
                             commands=run.data.commands, distances=run.data.distances)[:, 0]
        err = pred - run.val_targets
        val_rmse, val_mae = float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))
    val_rmse = run.d.broadcast(val_rmse)
    if val_rmse is not None and not math.isfinite(val_rmse):
        raise TimesteerError(f"{run.run_dir}: epoch {epoch + 1}: the model's validation output is not finite; "
                             f"lower --lr (the run keeps its last good epoch)")
    return val_rmse, val_mae


def _save_epoch(run: _Run, progress: _Progress, epoch: int, row: dict[str, Any], improved: bool,
                stop: bool) -> None:
    """Checkpoints (rank 0), atomic: a kill at any moment loses at most this epoch; then run.json."""
    cfg = run.cfg
    ckpt = {"model": model_payload(run.model), "normalization": run.norm, "train_config": to_dict(cfg),
            "data": run.info["data"], "schedule": run.info["schedule"],
            "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict() if run.use_amp else {}, "epoch": epoch,
            "best_val_rmse": progress.best_val, "best_epoch": progress.best_epoch, "stale_epochs": progress.stale,
            "history": progress.history}
    if improved or row["val_rmse"] is None:
        save_checkpoint(run.run_dir / "best.pt", ckpt)
    save_checkpoint(run.run_dir / "last.pt", ckpt)
    status = "early-stopped" if stop else ("finished" if epoch == cfg.epochs - 1 else "running")
    _write_run(run.run_dir, {**run.info, "status": status, "epochs_done": epoch + 1,
                             "best_epoch": progress.best_epoch, "best_val_rmse": _finite(progress.best_val),
                             "last": _clean(row)})
    if cfg.progress:
        tqdm.write(_epoch_line(row, cfg.epochs, improved, run.data.first.manifest.steering.unit))


GTT_BATCHES = 3  # batches an epoch on which gradients through time are measured


def _measure_through_time(model: SteeringModel, frames: torch.Tensor, targets: torch.Tensor,
                          state: tuple | None, distances: torch.Tensor | None) -> np.ndarray:
    was_training = model.training
    model.eval()  # no dropout noise in the measurement
    try:
        return gradient_norms(model, frames.float(), targets.float(),
                              tuple(s.detach() for s in state) if state else None, distances)
    finally:
        model.train(was_training)


def _resume_payload(run_dir: Path, resume: bool, speak: bool = True) -> dict[str, Any] | None:
    """The checkpoint to continue from, or None to start from the beginning.

    A run directory without `last.pt` (stopped before its first epoch ended) holds nothing worth keeping:
    it starts again, with or without --resume. One with `last.pt` continues only when asked to."""
    last = run_dir / "last.pt"
    if resume:
        if not last.is_file():
            if speak:
                print(f"{run_dir}: no checkpoint yet (no epoch finished); starting from the beginning", flush=True)
            return None
        return load_checkpoint(last)
    if last.exists():
        raise TimesteerError(f"{run_dir}: already holds a training run; pass --resume {run_dir} to continue it, "
                             f"or choose another --out")
    return None


# What a resumed run may change, and the paths (compared below by the recordings' content, not by name);
# everything else must be what the checkpoint was trained with.
RESUMABLE_KEYS = frozenset({"out", "epochs", "patience", "device", "threads", "progress", "tensorboard",
                            "data", "val", "init"})


def check_resume(payload: dict[str, Any], cfg: TrainConfig, data: TrainData, where: Path) -> None:
    """Refuse to go on from a checkpoint that is not this run's (a `last.pt` copied from another run) or
    on data that is not what it started on (a recording imported again with other frames)."""
    given = to_dict(cfg)
    try:  # through the config's own reader, so that a setting added since takes its default on both sides
        saved_cfg = from_dict(TrainConfig, {**checkpoint_field(payload, "train_config", dict, where),
                                            "out": cfg.out}, where="train_config")
        saved = to_dict(with_lead_heads_settled(with_time_warp_settled(saved_cfg)))
    except ConfigError as exc:
        raise TimesteerError(f"{where}: its training settings are not this timesteer's ({exc}); it is not this "
                             f"run's checkpoint") from None
    changed = sorted(k for k in set(saved) | set(given) if k not in RESUMABLE_KEYS and saved.get(k) != given.get(k))
    if changed:
        key = changed[0]
        also = f" (and differs in {', '.join(changed[1:])})" if len(changed) > 1 else ""
        raise TimesteerError(f"{where}: was trained with {key} = {saved.get(key)!r}, but the run says "
                             f"{given.get(key)!r}{also}; it is not this run's checkpoint (start a new run instead)")
    saved_recs = checkpoint_field(payload, "data", dict, where).get("recordings", [])
    now_recs = data.describe()["recordings"]
    if len(saved_recs) != len(now_recs):
        raise TimesteerError(f"{where}: was trained on {len(saved_recs)} recordings, the data now has "
                             f"{len(now_recs)}; start a new run")
    for old, new in zip(saved_recs, now_recs, strict=True):
        same = (old.get("fingerprint") == new["fingerprint"] if "fingerprint" in old  # older runs: what they kept
                else (old.get("created_at"), old.get("frames")) == (new["created_at"], new["frames"]))
        if not same:
            raise TimesteerError(f"{new['path']}: is not the recording this run started on (imported again, or "
                                 f"another one in its place); resuming would mix two datasets. Start a new run")


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The configuration a run was started with; `out` is the run directory as given now, wherever it
    was made, so a moved or copied run resumes where it is."""
    raw = dict(read_run_info(run_dir).config)
    raw["out"] = str(run_dir)
    try:
        return from_dict(TrainConfig, raw, where="config")
    except ConfigError as exc:
        raise TimesteerError(f"{Path(run_dir) / RUN_FILE}: {exc}") from None


def _write_run(run_dir: Path, info: dict[str, Any]) -> None:
    write_json(run_dir / RUN_FILE, info)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def _epoch_line(row: dict[str, Any], epochs: int, improved: bool, unit: str) -> str:
    """One line per epoch. The loss is on standardised targets (what the optimiser sees, about 1.0 for a
    model no better than the mean); the RMSEs are in the recording's steering unit."""
    val = (f"val RMSE {row['val_rmse']:.4f}{' *' if improved else '  '}" if row["val_rmse"] is not None
           else "no validation")
    return (f"epoch {row['epoch']:3d}/{epochs}  loss {row['train_loss']:.4f} (standardised)  "
            f"train RMSE {row['train_rmse']:.4f}  {val} ({unit})  {row['frames_per_s']:.0f} frames/s  "
            f"data wait {100 * row['data_wait_fraction']:.0f}%")
