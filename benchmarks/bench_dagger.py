"""How long `timesteer dagger` takes, stage by stage: the behaviour cloning, then per iteration the
learner's drives and the training on the grown data.

    python benchmarks/bench_dagger.py --data REC --out OUT [--model cnn_gru] [--seeds 1-8] [--iterations 4]
        [--epochs 12] [--epochs-per-iteration 6] [--conditions hard] [--workers 2] [--threads 2]

REC is an expert's recording of the training tracks (`timesteer record-sim --seeds 1-8 --conditions hard
--out REC`). OUT must not hold a finished DAgger run (it would resume, and time nothing). Prints one JSON
line: wall seconds in all and per stage, the settings and the machine. A benchmark, not a test: run it
on a machine doing nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from typing import Any

import torch
from machine import cpu_name  # benchmarks/machine.py: scripts run with their own folder on sys.path

from timesteer.sim import CONDITIONS
from timesteer.sim.dagger import DaggerConfig, dagger
from timesteer.sim.parallel import parse_seeds

# The module, not the function `timesteer.sim.dagger` that the package exports under the same name.
dagger_module = importlib.import_module("timesteer.sim.dagger")


def timed(stages: list[dict[str, Any]], kind: str, fn):
    """`fn` with its wall time appended to `stages` under `kind` (training or driving)."""

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages.append({"stage": kind, "seconds": round(time.perf_counter() - t0, 1)})

    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="cnn_gru")
    ap.add_argument("--seeds", default="1-8")
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--epochs-per-iteration", type=int, default=6)
    ap.add_argument("--conditions", default="hard", choices=sorted(CONDITIONS))
    ap.add_argument("--workers", type=int, default=2, help="simulator processes while the learner drives")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads while training")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    stages: list[dict[str, Any]] = []
    dagger_module._train_stage = timed(stages, "train", dagger_module._train_stage)
    dagger_module.record_sim = timed(stages, "drive", dagger_module.record_sim)
    cfg = DaggerConfig(data=args.data, seeds=parse_seeds(args.seeds), out=args.out, model=args.model,
                       iterations=args.iterations, conditions=CONDITIONS[args.conditions], epochs=args.epochs,
                       epochs_per_iteration=args.epochs_per_iteration, seed=args.seed,
                       train={"threads": args.threads, "tensorboard": False}, workers=args.workers, progress=False)
    t0 = time.perf_counter()
    state = dagger(cfg)
    total = time.perf_counter() - t0
    print(json.dumps({
        "model": args.model, "seeds": args.seeds, "iterations": args.iterations, "epochs": args.epochs,
        "epochs_per_iteration": args.epochs_per_iteration, "conditions": args.conditions,
        "workers": args.workers, "threads": args.threads, "seconds": round(total, 1),
        "train_s": round(sum(s["seconds"] for s in stages if s["stage"] == "train"), 1),
        "drive_s": round(sum(s["seconds"] for s in stages if s["stage"] == "drive"), 1),
        "stages": stages,
        "training_autonomy_pct": [round(r["training_autonomy_pct"], 1) for r in state["iterations"]],
        "final": state["final"], "cpu": cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
