"""Closed loop, measured so it holds up: does a model that uses time drive better than one that does not?

    python benchmarks/bench_closed_loop.py --out /tmp/closed-loop [--workers 2]
    python benchmarks/bench_closed_loop.py --out /tmp/closed-loop --report     # tables from what is done

Training tracks 1-8, held-out tracks 1001-1020 (one lap each). Data:
  expert   the expert drives the training tracks cleanly (`record-sim`)
  noisy    the expert drives them under the `hard` conditions, its corrections recorded
  dagger   `timesteer dagger` from the noisy recording under `hard` (4 iterations, beta 0.5 halving)
Models `pilotnet`, `diffnet`, `cnn_gru`, `conv3d_lstm`; seeds 0-2 for `pilotnet` and `cnn_gru` (the best
model that uses time on real data, BENCHMARKS.md), seed 0 for the others (`--seeds-expert 1` keeps the
clean-recording control at one seed). Every run drives every held-out
track under `clean` and under `hard`; so does the expert. Each stage appends one JSON line to
OUT/results.jsonl and is skipped when done, so a killed benchmark resumes; runs resume from their last
epoch. Figures: autonomy pooled over tracks (and seeds) with a 95% bootstrap interval over tracks,
interventions per 1,000 s, and a paired per-track comparison of `cnn_gru` against `pilotnet` (each
track's autonomy averaged over the seeds of each model).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from timesteer.sim import (
    CONDITIONS,
    DaggerConfig,
    DriveConfig,
    RecordConfig,
    dagger,
    drive,
    paired,
    parse_seeds,
    record_sim,
    track_interval,
)
from timesteer.train import TrainConfig, train
from timesteer.train.run import read_run_info

MODELS = ("pilotnet", "diffnet", "cnn_gru", "conv3d_lstm")
SEEDED = ("pilotnet", "cnn_gru")  # three seeds each; one for the others
DATA = ("expert", "noisy", "dagger")
DRIVE_CONDITIONS = ("clean", "hard")


def log(results: Path, row: dict) -> None:
    with open(results, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "tracks"}), file=sys.stderr, flush=True)


def done_keys(results: Path) -> set[str]:
    if not results.exists():
        return set()
    return {json.loads(ln)["key"] for ln in results.read_text().splitlines() if ln.strip()}


def finished(run: Path) -> bool:
    try:
        return read_run_info(run).status in ("finished", "early-stopped")
    except Exception:
        return False


def run_benchmark(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    train_seeds, test_seeds = parse_seeds(args.train_seeds), parse_seeds(args.test_seeds)
    common = {"threads": args.threads, "tensorboard": False, "progress": False}

    recs = {"expert": out / "rec-expert", "noisy": out / "rec-noisy"}
    for name, path in recs.items():
        if not (path / "manifest.json").exists():
            t0 = time.perf_counter()
            record_sim(RecordConfig(seeds=train_seeds, out=str(path), conditions=CONDITIONS[
                "clean" if name == "expert" else "hard"], workers=args.workers, progress=False))
            log(results, {"key": f"record/{name}", "seconds": round(time.perf_counter() - t0, 1)})

    def drive_all(run: str, data: str, model: str, seed: int) -> None:
        for cond in DRIVE_CONDITIONS:
            key = f"drive/{data}/{model}/seed{seed}/{cond}"
            if key in done_keys(results):
                continue
            t0 = time.perf_counter()
            result = drive(DriveConfig(run=run, seeds=test_seeds, conditions=CONDITIONS[cond], workers=args.workers,
                                       progress=False))
            assert not result["seeds_overlap_training"]
            log(results, {"key": key, "data": data, "model": model, "seed": seed, "conditions": cond,
                          "autonomy_pct": result["autonomy_pct"], "interventions": result["interventions"],
                          "elapsed_s": result["elapsed_s"], "interval": result["interval"],
                          "tracks": [{k: t[k] for k in ("seed", "autonomy_pct", "interventions", "elapsed_s")}
                                     for t in result["tracks"]],
                          "seconds": round(time.perf_counter() - t0, 1)})

    drive_all("expert", "expert", "expert", 0)
    # The data that prepares for the hard conditions first (the clean expert recording is the control):
    # seed 0 of pilotnet and cnn_gru, their other seeds (noisy, then DAgger), then the other models (and,
    # with --seeds-expert, the control's other seeds).
    models = args.models.split(",")
    order = [(data, m, 0) for data in ("noisy", "dagger", "expert") for m in models if m in SEEDED]
    # Behaviour cloning's other seeds before DAgger's: they cost a tenth as much and are where time pays most.
    order += [(data, m, seed) for data in ("noisy", "dagger") for seed in range(1, args.seeds) for m in models
              if m in SEEDED]
    order += [(data, m, 0) for data in ("noisy", "dagger", "expert") for m in models if m not in SEEDED]
    order += [("expert", m, seed) for seed in range(1, args.seeds_expert) for m in models if m in SEEDED]
    for data, model, seed in order:
        key = f"train/{data}/{model}/seed{seed}"
        run = out / "runs" / f"{data}-{model}-seed{seed}"
        t0 = time.perf_counter()
        if data == "dagger":
            state = run / "dagger.json"
            if not state.exists() or "final" not in json.loads(state.read_text()):
                # Iteration 0 is the behaviour-cloning run on the noisy recording (trained above, same seed),
                # unless this DAgger run began before that option existed.
                bc = out / "runs" / f"noisy-{model}-seed{seed}"
                start = str(bc) if finished(bc) and not (run / "iter0").exists() else None
                dagger(DaggerConfig(data=str(recs["noisy"]), seeds=train_seeds, out=str(run), model=model,
                                    iterations=args.dagger_iterations, conditions=CONDITIONS["hard"],
                                    epochs=args.epochs, epochs_per_iteration=args.epochs_per_iteration,
                                    seed=seed, train=common, workers=args.workers, progress=False,
                                    start_run=start))
            final = Path(json.loads(state.read_text())["final"])
        else:
            if not finished(run):
                train(TrainConfig(data=str(recs[data]), out=str(run), model=model, epochs=args.epochs,
                                  val_split="blocks", seed=seed, **common), resume=(run / "last.pt").exists())
            final = run
        if key not in done_keys(results):
            log(results, {"key": key, "run": str(final), "seconds": round(time.perf_counter() - t0, 1)})
        drive_all(str(final), data, model, seed)


def report(out: Path) -> dict:
    rows = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines() if ln.strip()]
    drives = [r for r in rows if r["key"].startswith("drive/")]
    table = []
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in drives:
        groups.setdefault((r["data"], r["model"], r["conditions"]), []).append(r)
    mean_tracks: dict[tuple[str, str, str], list[dict]] = {}
    for (data, model, cond), rs in sorted(groups.items()):
        # Pool the seeds: every (seed, track) drive counts; the interval resamples tracks.
        by_track: dict[int, list[dict]] = {}
        for r in rs:
            for t in r["tracks"]:
                by_track.setdefault(t["seed"], []).append(t)
        pooled = [{"seed": s, "interventions": sum(t["interventions"] for t in ts),
                   "elapsed_s": sum(t["elapsed_s"] for t in ts),
                   "autonomy_pct": statistics.mean(t["autonomy_pct"] for t in ts)} for s, ts in by_track.items()]
        mean_tracks[(data, model, cond)] = pooled
        ci = track_interval(pooled)
        table.append({"data": data, "model": model, "conditions": cond, "seeds": len(rs),
                      "autonomy_pct": ci["autonomy_pct"], "autonomy_ci95": ci["autonomy_ci95"],
                      "autonomy_by_seed": [round(r["autonomy_pct"], 1) for r in sorted(rs, key=lambda r: r["seed"])],
                      "interventions_per_1000s": ci["interventions_per_1000s"],
                      "interventions_per_1000s_ci95": ci["interventions_per_1000s_ci95"],
                      "interventions": sum(r["interventions"] for r in rs)})
    comparisons = []
    for data in DATA:
        for cond in DRIVE_CONDITIONS:
            for model in ("cnn_gru", "diffnet", "conv3d_lstm"):
                a, b = mean_tracks.get((data, model, cond)), mean_tracks.get((data, "pilotnet", cond))
                if a and b:
                    comparisons.append({"data": data, "conditions": cond, "a": model, "b": "pilotnet", **paired(a, b)})
    return {"table": table, "paired": comparisons}


def markdown(rep: dict) -> str:
    lines = ["| data | model | conditions | seeds | autonomy (95% CI over tracks) | per seed "
             "| interventions / 1,000 s |",
             "|---|---|---|---:|---:|---|---:|"]
    for r in rep["table"]:
        lo, hi = r["autonomy_ci95"]
        ilo, ihi = r["interventions_per_1000s_ci95"]
        lines.append(f"| {r['data']} | `{r['model']}` | {r['conditions']} | {r['seeds']} | {r['autonomy_pct']:.1f}% "
                     f"({lo:.1f}-{hi:.1f}) | {', '.join(map(str, r['autonomy_by_seed']))} | "
                     f"{r['interventions_per_1000s']:.1f} ({ilo:.1f}-{ihi:.1f}) |")
    lines += ["", "| data | conditions | a - b | autonomy difference (95% CI) | tracks a better / b better |",
              "|---|---|---|---:|---:|"]
    for c in rep["paired"]:
        lo, hi = c["autonomy_diff_ci95"]
        lines.append(f"| {c['data']} | {c['conditions']} | `{c['a']}` - `{c['b']}` | {c['autonomy_diff_pct']:+.2f} "
                     f"({lo:+.2f} to {hi:+.2f}) | {c['tracks_a_better']} / {c['tracks_b_better']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--train-seeds", default="1-8")
    p.add_argument("--test-seeds", default="1001-1020")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seeds", type=int, default=3, help="seeds for pilotnet and cnn_gru")
    p.add_argument("--seeds-expert", type=int, default=3,
                   help="seeds for pilotnet and cnn_gru on the clean expert recording (the control)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--epochs-per-iteration", type=int, default=6)
    p.add_argument("--dagger-iterations", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    t0 = time.perf_counter()
    if not args.report:
        run_benchmark(args)
    rep = report(Path(args.out))
    print(json.dumps({"benchmark": "closed-loop", "python": platform.python_version(), "cpus": os.cpu_count(),
                      "minutes": round((time.perf_counter() - t0) / 60, 1), **rep}, indent=2))
    print(markdown(rep))


if __name__ == "__main__":
    main()
