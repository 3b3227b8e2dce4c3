"""Does time hold up when the history changes? Open loop, issue 29.

    python benchmarks/bench_history_shift.py --recs DIR --out /tmp/shift [--workers 2] [--seeds 0,1,2]
    python benchmarks/bench_history_shift.py --out /tmp/shift --report   # the tables from what is done

DIR holds recordings imported with `timesteer import udacity-sim ... --size 66x200` (no crop) from the
shared drives: `stay_center` (trained on; its last 20% held out), `recover` and `curves` (the same
driver, other drives, all frames). Every variant trains on `stay_center` alone with the defaults and 8
epochs (the issue's setting), seeds side by side at one thread each, and is tested on:

- each recording as recorded (stay_center: its held-out end; the others: every frame);
- each replayed at 2x (every other frame) and 0.5x (every frame twice), and frozen (each frame held
  still), by `timesteer.evaluate.shortcut`: the speed shifts one can make without other drivers' drives.

Variants: `pilotnet` (one frame, the baseline), `cnn_gru` as it is, and `cnn_gru` with each candidate
fix (`VARIANTS`). Each run appends one JSON line to OUT/results.jsonl; a killed benchmark resumes.
Prints the summary as JSON; `--report` prints markdown tables: mean and spread over seeds, and each
variant minus `pilotnet` paired by seed.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from as_read import as_read, without_warp
from seeds import cell_text, over_seeds

VARIANTS = {
    "pilotnet": {"model": "pilotnet"},
    "cnn_gru": {"model": "cnn_gru"},
    "cnn_gru+warp": {"model": "cnn_gru", "augment": {"time_warp": 0.5}},
    "cnn_gru-slide": {"model": "cnn_gru", "model_config": {"shift_bands": 0}},
    "cnn_gru+warp-slide": {"model": "cnn_gru", "model_config": {"shift_bands": 0}, "augment": {"time_warp": 0.5}},
    "cnn_gru+warp1": {"model": "cnn_gru", "augment": {"time_warp": 1.0}},
    "cnn_gru+motiondrop": {"model": "cnn_gru", "model_config": {"motion_dropout": 0.5}},
    "cnn_gru+warp+motiondrop": {"model": "cnn_gru", "model_config": {"motion_dropout": 0.5},
                                "augment": {"time_warp": 0.5}},
    "cnn_gru+keyframe1": {"model": "cnn_gru", "keyframe_weight": 1.0},
    "cnn_gru+keyframe4": {"model": "cnn_gru", "keyframe_weight": 4.0},
    "pilotnet+keyframe4": {"model": "pilotnet", "keyframe_weight": 4.0},
    "cnn_gru+perdist": {"model": "cnn_gru", "model_config": {"motion_per_distance": True}},
    "cnn_gru+perdist+warp1": {"model": "cnn_gru", "model_config": {"motion_per_distance": True},
                              "augment": {"time_warp": 1.0}},
    # and one lead head at 0.1 s (the default on clean recordings since 2026-12-07): what it costs the plain output
    "cnn_gru+perdist+warp1+head01": {"model": "cnn_gru", "model_config": {"motion_per_distance": True},
                                     "augment": {"time_warp": 1.0}, "lead_heads_s": [0.1]},
    # `diffnet`'s defaults on a Udacity import (motion per distance, no time warp, one head), and without the head
    "diffnet+perdist": {"model": "diffnet", "model_config": {"motion_per_distance": True}},
    "diffnet+perdist+head01": {"model": "diffnet", "model_config": {"motion_per_distance": True},
                               "lead_heads_s": [0.1]},
    "conv3d_lstm": {"model": "conv3d_lstm"},
    "conv3d_lstm+warp": {"model": "conv3d_lstm", "augment": {"time_warp": 0.5}},
}
# The motion measured against the distance travelled is the default since 2026-12-06 where the speed is recorded:
# the variants without "+perdist" keep the motion as read, as they were measured (as_read.py).
# Likewise time warp, `cnn_gru`'s default since later that day: the variants that do not set it go without,
# and lead heads (a default since 2026-12-07; open loop reads the plain steering, but a head shares its training).
for _spec in VARIANTS.values():
    _spec.setdefault("lead_heads_s", [])
    if config := as_read(_spec["model"], _spec.get("model_config", {})):
        _spec["model_config"] = config
    if augment := without_warp(_spec["model"], _spec.get("augment", {})):
        _spec["augment"] = augment
TESTS = (("stay_center", "val"), ("recover", "all"), ("curves", "all"))
EPOCHS = 8

CHILD = r"""
import json, sys, time
from pathlib import Path
from timesteer.config import from_dict
from timesteer.data import Recording
from timesteer.data.commands import previous_commands
from timesteer.data.distance import distances_for
from timesteer.evaluate.runner import choose_spans
from timesteer.evaluate.shortcut import shortcut_test
from timesteer.train import TrainConfig, train
from timesteer.train.run import load_run, read_run_info
spec = json.loads(sys.argv[1])
cfg = from_dict(TrainConfig, spec["train"])
t0 = time.perf_counter()
run = Path(cfg.out)
if not ((run / "run.json").exists() and read_run_info(run).status in ("finished", "early-stopped")):
    train(cfg, resume=(run / "last.pt").exists())
loaded = load_run(run)
tests = {}
for name, split in spec["tests"]:
    rec = Recording.open(Path(spec["recs"]) / name)
    spans = choose_spans(loaded, rec, split)
    tests[name] = shortcut_test(loaded.model, rec.frames, spans, rec.steering, previous_commands(rec),
                                distances_for(loaded.model, rec))
print("RESULT" + json.dumps({"tests": tests, "seconds": time.perf_counter() - t0}))
"""


def run_one(recs: Path, out: Path, variant: str, seed: int, epochs: int = EPOCHS, tests: tuple = TESTS,
            device: str = "auto") -> dict:
    spec = VARIANTS[variant]
    train = {"data": str(recs / "stay_center"), "out": str(out / "runs" / f"{variant}-s{seed}"), "epochs": epochs,
             "seed": seed, "threads": 1, "progress": False, "tensorboard": False, "device": device, **spec}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps({"train": train, "recs": str(recs),
                                                                     "tests": tests})],
                          capture_output=True, text=True, env=env, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{variant} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return {"variant": variant, "seed": seed, **json.loads(line[len("RESULT"):])}


def done(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []


def summary(rows: list[dict]) -> dict:
    """Per variant and test set: RMSE as recorded, at 2x, at 0.5x, frozen (mean, sd over seeds), and each
    minus pilotnet paired by seed."""
    by = {(r["variant"], r["seed"]): r for r in rows}
    out: dict = {}
    for variant in VARIANTS:
        seeds = sorted(s for v, s in by if v == variant)
        if not seeds:
            continue
        cell: dict = {"seeds": seeds}
        for name, _ in TESTS:
            if any(name not in by[variant, s]["tests"] for s in seeds):
                continue
            for shift in ("as recorded", "2x", "0.5x", "frozen"):
                def value(r: dict, name: str = name, shift: str = shift) -> float:
                    t = r["tests"][name]
                    return t["rmse"] if shift == "as recorded" else t[shift]["rmse"]

                stats = over_seeds({s: value(by[variant, s]) for s in seeds},
                                   {s: value(by["pilotnet", s]) for s in seeds if ("pilotnet", s) in by})
                cell[f"{name} {shift}"] = {
                    "mean": stats["mean"], "sd": stats["sd"], "minus_pilotnet": stats["minus"],
                    "minus_pilotnet_range": stats["minus_range"],
                    "gain": statistics.fmean(by[variant, s]["tests"][name][shift]["gain"] or 0.0 for s in seeds)
                    if shift != "as recorded" else None}
        out[variant] = cell
    return out


def report(s: dict) -> str:
    lines = []
    for name, _ in TESTS:
        if not any(f"{name} as recorded" in cell for cell in s.values()):
            continue
        lines += [f"\n{name}: RMSE, mean ± sd over seeds (minus pilotnet, paired by seed: mean [min, max]; gain)",
                  "| variant | as recorded | 2x | 0.5x | frozen |", "|---|---:|---:|---:|---:|"]
        for variant, cell in s.items():
            if f"{name} as recorded" not in cell:
                continue
            cells = []
            for shift in ("as recorded", "2x", "0.5x", "frozen"):
                c = cell[f"{name} {shift}"]
                text = cell_text(c["mean"], c["sd"], *((c["minus_pilotnet"], c["minus_pilotnet_range"])
                                                       if variant != "pilotnet" else ()))
                if c["gain"] is not None:
                    text += f" g{c['gain']:.2f}"
                cells.append(text)
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recs", type=Path, help="folder of the imported recordings (see above)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--tests", default=",".join(name for name, _ in TESTS), help="test recordings in --recs")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    tests = tuple(t for t in TESTS if t[0] in args.tests.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        have = {(r["variant"], r["seed"]) for r in done(args.out)}
        jobs = [(v, int(s)) for v in args.variants.split(",") for s in args.seeds.split(",") if (v, int(s)) not in have]
        with cf.ThreadPoolExecutor(args.workers) as pool:
            for result in pool.map(lambda job: run_one(args.recs, args.out, *job, args.epochs, tests, args.device),
                                   jobs):
                with open(args.out / "results.jsonl", "a") as fh:
                    fh.write(json.dumps(result) + "\n")
                print(f"{result['variant']} seed {result['seed']}: {result['seconds']:.0f} s", file=sys.stderr)
    s = summary(done(args.out))
    print(json.dumps(s, indent=1))
    if args.report:
        print(report(s))


if __name__ == "__main__":
    main()
