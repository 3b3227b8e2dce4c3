"""Does time help on real driving, in every reasonable setting? The grid of issue 11.

    python benchmarks/bench_grid.py --shared ../shared/data/udacity-sim --out /tmp/grid [--workers 2]
    python benchmarks/bench_grid.py --out /tmp/grid --report        # the table from what is done so far

Data: `track1_stay_center` alone, and all three track-1 recordings together; validation is the last 20%
of `track1_stay_center` in both (the other two are training only). Settings: `--crop 60,20` with 20
epochs, and no crop with 8 epochs (a newcomer's quick try). Models `pilotnet`, `diffnet`, `cnn_gru`,
`conv3d_lstm` with their defaults, seeds 0, 1, 2, and `mean` once per cell as the floor.

Every training runs in its own process (`--threads` each, `--workers` at a time) and appends one JSON
line to OUT/results.jsonl; a killed benchmark resumes with the cells not yet done (a run killed half way
resumes from its last epoch). Prints the summary as JSON; `--report` also prints the markdown table.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("pilotnet", "diffnet", "cnn_gru", "conv3d_lstm")
SETTINGS = {"crop-20ep": {"crop": "60,20", "epochs": 20}, "nocrop-8ep": {"crop": None, "epochs": 8}}
DATASETS = ("center", "all3")
RECORDINGS = ("track1_stay_center", "track1_recover", "track1_curves")

CHILD = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from timesteer.config import from_dict
from timesteer.data import Recording
from timesteer.evaluate.runner import evaluate_loaded
from timesteer.train import TrainConfig, load_checkpoint, train
from timesteer.train.run import load_run, read_run_info
spec = json.loads(sys.argv[1])
cfg = from_dict(TrainConfig, spec["train"])
t0 = time.perf_counter()
run = Path(cfg.out)
finished = (run / "run.json").exists() and read_run_info(run).status in ("finished", "early-stopped")
if not finished:
    train(cfg, resume=(run / "last.pt").exists())
history = load_checkpoint(run / "last.pt")["history"]
info = read_run_info(run)
ev = evaluate_loaded(load_run(run), Recording.open(spec["val"]), "val")
print("RESULT" + json.dumps({"best_val_rmse": info.best_val_rmse, "best_epoch": info.best_epoch + 1,
      "final_val_rmse": history[-1]["val_rmse"], "eval_rmse": ev.metrics["rmse"],
      "pred_std": float(np.std(ev.pred)), "human_std": float(np.std(ev.true)), "val_frames": len(ev.pred),
      "frames_per_s": sum(h["frames_per_s"] for h in history) / len(history),
      "seconds": time.perf_counter() - t0}))
"""


def import_recordings(shared: Path, out: Path) -> dict[str, Path]:
    """Each recording imported once per frame setting (66x200, cropped or not)."""
    recs = {}
    for setting, spec in SETTINGS.items():
        crop = spec["crop"]
        for name in RECORDINGS:
            dest = out / "recordings" / f"{name}-{'crop' if crop else 'nocrop'}"
            recs[f"{name}/{setting}"] = dest
            if (dest / "manifest.json").exists():
                continue
            cmd = [sys.executable, "-m", "timesteer", "import", "udacity-sim", str(shared / name), str(dest),
                   "--size", "66x200", "--quiet"] + (["--crop", crop] if crop else [])
            subprocess.run(cmd, check=True, capture_output=True)
    return recs


def cells(recs: dict[str, Path], out: Path, seeds: list[int], threads: int, models: tuple[str, ...]) -> list[dict]:
    jobs = []
    for setting, spec in SETTINGS.items():
        center = recs[f"track1_stay_center/{setting}"]
        for dataset in DATASETS:
            if dataset == "center":
                data: str = str(center)
            else:
                # A dataset file: validation only from the centre drive, recover and curves all training.
                data_file = out / "datasets" / f"all3-{setting}.json"
                data_file.parent.mkdir(parents=True, exist_ok=True)
                entries = [{"path": str(center)}] + [{"path": str(recs[f"{n}/{setting}"]), "val_fraction": 0.0}
                                                     for n in RECORDINGS[1:]]
                data_file.write_text(json.dumps({"recordings": entries}, indent=2))
                data = str(data_file)
            for model in ("mean", *models):
                for seed in ([0] if model == "mean" else seeds):
                    key = f"{setting}/{dataset}/{model}/seed{seed}"
                    train = {"data": data, "out": str(out / "runs" / key.replace("/", "-")), "model": model,
                             "epochs": spec["epochs"], "seed": seed, "patience": 0, "threads": threads,
                             "progress": False, "tensorboard": False}
                    jobs.append({"key": key, "setting": setting, "dataset": dataset, "model": model, "seed": seed,
                                 "train": train, "val": str(center)})
    return jobs


def run_job(job: dict, results: Path, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    row = {k: job[k] for k in ("key", "setting", "dataset", "model", "seed")}
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if lines:
        row.update(json.loads(lines[-1][len("RESULT"):]))
    else:
        row["error"] = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
    with open(results, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        if "error" not in r:
            groups.setdefault((r["setting"], r["dataset"], r["model"]), []).append(r)
    for (setting, dataset, model), rs in sorted(groups.items()):
        rmse = [r["best_val_rmse"] for r in rs]
        final = [r["final_val_rmse"] for r in rs]
        out.append({"setting": setting, "dataset": dataset, "model": model, "seeds": len(rs),
                    "rmse_mean": statistics.mean(rmse), "rmse_sd": statistics.pstdev(rmse),
                    "rmse_min": min(rmse), "rmse_max": max(rmse), "final_rmse_mean": statistics.mean(final),
                    "collapsed": sum(r["pred_std"] < 0.5 * r["human_std"] for r in rs),
                    "minutes_each": statistics.mean(r["wall_seconds"] for r in rs) / 60})
    return out


def verdict(summary: list[dict]) -> list[dict]:
    """Per cell: the best model that uses time against pilotnet (goal: >= 15% below, and below 0.060)."""
    cells_ = {}
    for s in summary:
        cells_.setdefault((s["setting"], s["dataset"]), {})[s["model"]] = s
    out = []
    for (setting, dataset), models in sorted(cells_.items()):
        temporal = [m for m in ("diffnet", "cnn_gru", "conv3d_lstm") if m in models]
        if "pilotnet" not in models or not temporal:
            continue
        best = min(temporal, key=lambda m: models[m]["rmse_mean"])
        p, b = models["pilotnet"]["rmse_mean"], models[best]["rmse_mean"]
        out.append({"setting": setting, "dataset": dataset, "best_temporal": best, "best_rmse": b, "pilotnet_rmse": p,
                    "below_pilotnet_pct": 100 * (1 - b / p), "goal_15pct": b <= 0.85 * p, "goal_0060": b < 0.060,
                    "no_collapse": all(m["collapsed"] == 0 for m in models.values() if m["model"] != "mean")})
    return out


def markdown(summary: list[dict], verdicts: list[dict]) -> str:
    lines = ["| setting | data | model | seeds | best RMSE, mean ± sd | range | final RMSE | collapsed | min/run |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        lines.append(f"| {s['setting']} | {s['dataset']} | `{s['model']}` | {s['seeds']} | "
                     f"{s['rmse_mean']:.4f} ± {s['rmse_sd']:.4f} | {s['rmse_min']:.4f}-{s['rmse_max']:.4f} | "
                     f"{s['final_rmse_mean']:.4f} | {s['collapsed']} | {s['minutes_each']:.1f} |")
    lines += ["", "| setting | data | best model using time | its RMSE | pilotnet | below pilotnet | >= 15% | < 0.060 "
                  "| no collapse |", "|---|---|---|---:|---:|---:|---|---|---|"]
    for v in verdicts:
        yes = {True: "yes", False: "NO"}
        lines.append(f"| {v['setting']} | {v['dataset']} | `{v['best_temporal']}` | {v['best_rmse']:.4f} | "
                     f"{v['pilotnet_rmse']:.4f} | {v['below_pilotnet_pct']:.1f}% | {yes[v['goal_15pct']]} "
                     f"| {yes[v['goal_0060']]} | {yes[v['no_collapse']]} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default="../shared/data/udacity-sim", help="folder holding the track-1 recordings")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--workers", type=int, default=2, help="trainings at a time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training")
    p.add_argument("--report", action="store_true", help="only summarise what is done")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    if not args.report:
        recs = import_recordings(Path(args.shared), out)
        done = set()
        if results.exists():
            done = {json.loads(ln)["key"] for ln in results.read_text().splitlines()
                    if ln.strip() and "error" not in json.loads(ln)}
        jobs = [j for j in cells(recs, out, [int(s) for s in args.seeds.split(",")], args.threads,
                                 tuple(args.models.split(","))) if j["key"] not in done]
        # Longest first (diffnet, 20 epochs, three recordings), so the last worker is not left alone.
        jobs.sort(key=lambda j: (-(j["train"]["epochs"]), j["dataset"] != "all3", j["model"] != "diffnet"))
        with cf.ThreadPoolExecutor(args.workers) as pool:
            for row in pool.map(lambda j: run_job(j, results, args.threads), jobs):
                print(json.dumps(row), file=sys.stderr, flush=True)
    rows = [json.loads(ln) for ln in results.read_text().splitlines() if ln.strip()] if results.exists() else []
    summary = summarize(rows)
    verdicts = verdict(summary)
    print(json.dumps({"benchmark": "grid", "python": platform.python_version(), "cpus": os.cpu_count(),
                      "summary": summary, "verdicts": verdicts}, indent=2))
    if args.report:
        print(markdown(summary, verdicts))


if __name__ == "__main__":
    main()
