"""Training, top to bottom: data and split, model and normalisation, optimiser, then epochs of
truncated backpropagation through time with validation, checkpoints and early stopping.

    from timesteer.train import TrainConfig, train
    result = train(TrainConfig(data="REC", out="RUN", model="cnn_gru", epochs=20))

The same function runs on CPU, one GPU, or under torchrun (each process trains its share of the lanes;
gradients are averaged by DDP). Every epoch ends with `last.pt` written atomically, and `best.pt`
when validation improves; `train(config, resume=True)` continues exactly where `last.pt` left off.
"""

from __future__ import annotations

import json
import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from timesteer import __version__
from timesteer.config import from_dict, to_dict
from timesteer.data.windows import Plan, min_chunks, plan_lanes, plan_windows
from timesteer.errors import ConfigError, TimesteerError
from timesteer.models import SteeringModel, create_model, model_config
from timesteer.train.batches import BatchStream
from timesteer.train.checkpoint import load_checkpoint, model_from_payload, model_payload, save_checkpoint
from timesteer.train.config import TrainConfig
from timesteer.train.dataset import TrainData, load_train_data, normalization
from timesteer.train.distributed import Dist, init_distributed, shutdown_distributed
from timesteer.train.logbook import Logbook
from timesteer.train.predict import predict_spans, span_indexes
from timesteer.train.run import RUN_FILE, read_run_info


@dataclass
class Schedule:
    """How batches are cut for this model: lanes x seq_len frames, state carried or not."""

    stateful: bool
    seq_len: int
    lanes: int  # global, over all processes
    warmup: int

    def plan(self, data: TrainData, epoch_rng: np.random.Generator) -> Plan:
        if self.stateful:
            return plan_lanes(data.train_spans, self.lanes, self.seq_len, epoch_rng)
        return plan_windows(data.train_spans, self.lanes, self.seq_len, self.warmup, epoch_rng)


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_val_rmse: float
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)


def make_schedule(cfg: TrainConfig, model: SteeringModel, world: int, data: TrainData) -> Schedule:
    has_state = model.is_recurrent or model.context_frames > 0
    stateful = model.is_recurrent if cfg.stateful is None else cfg.stateful
    seq_len = cfg.seq_len if cfg.seq_len is not None else (16 if model.is_recurrent else 1)
    if seq_len < 1:
        raise ConfigError(f"seq_len: expected >= 1, got {seq_len}")
    warmup = 0 if stateful else max(cfg.burn_in, model.context_frames if has_state else 0)
    lanes = max(world, cfg.batch_frames // seq_len // world * world)
    # A short recording cannot fill a big batch: use the lanes it can fill (the run records how many).
    available = min_chunks(data.train_spans, seq_len, warmup) // world * world
    if available == 0:
        raise ConfigError(f"{data.train.path}: {sum(b - a for a, b in data.train_spans)} training frames are too "
                          f"few for chunks of {warmup + seq_len} frames on {world} process(es)")
    return Schedule(stateful, seq_len, min(lanes, available), warmup)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def loss_terms(out: torch.Tensor, target: torch.Tensor, aux_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, steering MSE) in standard units; out/target (B, L, K)."""
    err = (out.float() - target) ** 2
    steer = err[..., 0].mean()
    loss = steer + (aux_weight * err[..., 1:].mean() if err.shape[-1] > 1 else 0.0)
    return loss, steer


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    d, device = init_distributed(cfg.device)
    try:
        return _train(cfg, resume, d, device)
    finally:
        shutdown_distributed(d)


def _train(cfg: TrainConfig, resume: bool, d: Dist, device: torch.device) -> TrainResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.out)
    payload = _resume_payload(run_dir, resume)

    # ---- data, model, normalisation
    aux = tuple(getattr(model_config(cfg.model, cfg.model_config), "aux", ()))
    data = load_train_data(cfg, aux)
    if payload is not None:
        model = model_from_payload(payload, run_dir / "last.pt")
        norm = payload["normalization"]
    else:
        torch.manual_seed(cfg.seed)
        model = create_model(cfg.model, in_shape=data.in_shape, outputs=data.outputs, **cfg.model_config)
        norm = normalization(data)
        model.set_normalization(**norm)
    model.to(device)
    if device.type != "cuda":
        model.channels_last()
    schedule = make_schedule(cfg, model, d.world, data)
    steps_per_epoch = schedule.plan(data, np.random.default_rng([cfg.seed, 0])).steps
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)

    # ---- optimiser and schedule (biases and normalisation-free params get no weight decay)
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    total = cfg.epochs * steps_per_epoch
    warm = round(cfg.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warm, cfg.min_lr_ratio))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    first_epoch, best_val, best_epoch, stale, history = 0, math.inf, -1, 0, []
    if payload is not None:
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
        first_epoch = payload["epoch"] + 1
        best_val, best_epoch, stale = payload["best_val_rmse"], payload["best_epoch"], payload["stale_epochs"]
        history = list(payload["history"])
    net = model
    if d.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    run_info = {
        "timesteer_version": __version__,
        "config": to_dict(cfg),
        "model": {"name": model.name, "config": model.config, "in_shape": list(model.in_shape),
                  "outputs": list(model.outputs), "parameters": sum(p.numel() for p in model.parameters())},
        "data": data.describe(),
        "schedule": {"stateful": schedule.stateful, "seq_len": schedule.seq_len, "lanes": schedule.lanes,
                     "warmup": schedule.warmup, "world_size": d.world, "steps_per_epoch": steps_per_epoch,
                     "device": str(device), "amp": use_amp},
        "normalization": norm,
    }
    log = None
    if d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_run(run_dir, {**run_info, "status": "running", "epochs_done": first_epoch,
                             "best_epoch": best_epoch, "best_val_rmse": _finite(best_val)})
        log = Logbook(run_dir, cfg.tensorboard, first_epoch)
    val_targets = data.val_targets()[span_indexes(data.val_spans), 0]

    # ---- epochs
    for epoch in range(first_epoch, cfg.epochs):
        # Everything random in an epoch derives from (seed, epoch): resuming replays it exactly.
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        epoch_rng = np.random.default_rng([cfg.seed, epoch])
        plan = schedule.plan(data, epoch_rng)
        plan = Plan(plan.starts[:steps_per_epoch], plan.reset[:steps_per_epoch], plan.seq_len, plan.warmup)
        stream = BatchStream(data.cameras, data.targets, plan, epoch_rng, cfg.augment, data.side_offset,
                             lanes=slice(d.rank * plan.lanes // d.world, (d.rank + 1) * plan.lanes // d.world))
        model.train()
        state, t_start, loss_sum, mse_sum, frames_done = None, time.perf_counter(), 0.0, 0.0, 0
        bar = tqdm(total=plan.steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
                   disable=not (cfg.progress and d.is_main))
        for batch in stream:
            x = batch.frames.to(device, non_blocking=True)
            y = model.standardize_targets(batch.targets.to(device))
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                if schedule.stateful and state is not None:
                    state = model.reset_state(state, batch.reset.to(device))
                elif batch.warmup:
                    # Frame history / burn-in: build the state from the leading frames, outputs unneeded.
                    state = model.prime_state(x[:, : batch.warmup])
                else:
                    state = None
                out, state = net(x[:, batch.warmup :], state, standardized=True)
                loss, steer_mse = loss_terms(out, y, cfg.aux_weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            state = tuple(s.detach() for s in state) if schedule.stateful else None
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
            raise TimesteerError(f"epoch {epoch + 1}: training loss is not finite; lower --lr or check the data")

        # ---- validation, on rank 0, in time order with state carried (the way the model drives)
        val_rmse = val_mae = None
        if d.is_main and data.val_spans:
            pred = predict_spans(model, data.val_frames, data.val_spans, device)[:, 0]
            err = pred - val_targets
            val_rmse, val_mae = float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))
        val_rmse = d.broadcast(val_rmse)
        target_std = float(model.target_std[0])
        row = {
            "epoch": epoch, "train_loss": d.mean(loss_sum / max(1, frames_done)),
            "train_rmse": math.sqrt(d.mean(mse_sum / max(1, frames_done))) * target_std,
            "val_rmse": val_rmse, "val_mae": val_mae, "lr": scheduler.get_last_lr()[0],
            "frames": frames_done * d.world, "seconds": seconds, "frames_per_s": frames_done * d.world / seconds,
            "data_wait_fraction": stream.wait_s / seconds, "peak_rss_mib": peak_rss_mib(),
        }
        history.append(row)
        improved = val_rmse is not None and val_rmse < best_val
        if improved or val_rmse is None:
            best_val, best_epoch, stale = (val_rmse if val_rmse is not None else math.inf), epoch, 0
        else:
            stale += 1
        stop = cfg.patience > 0 and stale >= cfg.patience

        # ---- checkpoints (rank 0), atomic: a kill at any moment loses at most this epoch
        if d.is_main:
            assert log is not None
            log.write(row)
            ckpt = {"model": model_payload(model), "normalization": norm, "train_config": to_dict(cfg),
                    "data": run_info["data"], "schedule": run_info["schedule"],
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if use_amp else {}, "epoch": epoch,
                    "best_val_rmse": best_val, "best_epoch": best_epoch, "stale_epochs": stale,
                    "history": history}
            if improved or val_rmse is None:
                save_checkpoint(run_dir / "best.pt", ckpt)
            save_checkpoint(run_dir / "last.pt", ckpt)
            status = "early-stopped" if stop else ("finished" if epoch == cfg.epochs - 1 else "running")
            _write_run(run_dir, {**run_info, "status": status, "epochs_done": epoch + 1, "best_epoch": best_epoch,
                                 "best_val_rmse": _finite(best_val), "last": _clean(row)})
            if cfg.progress:
                tqdm.write(_epoch_line(row, cfg.epochs, improved))
        d.barrier()
        if stop:
            break
    if log is not None:
        log.close()
    return TrainResult(run_dir, best_epoch, best_val, len(history), history)


def _resume_payload(run_dir: Path, resume: bool) -> dict[str, Any] | None:
    last = run_dir / "last.pt"
    if resume:
        if not last.is_file():
            raise TimesteerError(f"{run_dir}: nothing to resume (no last.pt); start it without --resume")
        return load_checkpoint(last)
    if last.exists() or (run_dir / RUN_FILE).exists():
        raise TimesteerError(f"{run_dir}: already holds a training run; pass --resume {run_dir} to continue it, "
                             f"or choose another --out")
    return None


def load_run_config(run_dir: str | Path) -> TrainConfig:
    return from_dict(TrainConfig, read_run_info(run_dir)["config"], where=str(Path(run_dir) / RUN_FILE))


def _write_run(run_dir: Path, info: dict[str, Any]) -> None:
    tmp = run_dir / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(run_dir / RUN_FILE)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def _epoch_line(row: dict[str, Any], epochs: int, improved: bool) -> str:
    val = f"val rmse {row['val_rmse']:.4f}{' *' if improved else ''}" if row["val_rmse"] is not None else "no val"
    return (f"epoch {row['epoch'] + 1:3d}/{epochs}  loss {row['train_loss']:.4f}  {val}  "
            f"{row['frames_per_s']:.0f} frames/s  data wait {100 * row['data_wait_fraction']:.0f}%")
