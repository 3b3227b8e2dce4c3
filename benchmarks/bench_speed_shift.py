"""Open loop on drives recorded at other speeds than the training drives (issue 29, "Measure it").

    timesteer record-sim ... --speed-scale 0.6 --out TEST-x0.6      # the same expert, slower (and so on)
    python benchmarks/bench_speed_shift.py --runs 'OUT/runs/*' --tests x0.6=TEST-x0.6,x1=TEST-x1,x1.5=TEST-x1.5 \
        --out speed_shift.json [--baseline pilotnet] [--report]

Unlike `bench_history_shift.py`'s replays (frames skipped or repeated, so the recorded speed and the
picture disagree), these drives really are slower or faster: the expert's speed planner is scaled
(`--speed-scale`), and with it the motion between frames, the speed signal, and the steering the expert
needs in a curve. Every run (a directory `VARIANT-sSEED` made by `timesteer train`) is evaluated on every
frame of every test recording, in time order with its state carried (`timesteer eval --split all`, the
best checkpoint). Writes one JSON object (every run x test: RMSE and the recording's floors) to `--out`
and prints it; `--report` prints markdown: each variant's mean RMSE and spread over seeds per test, and
each variant minus the baseline paired by seed (mean [min, max]).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from seeds import cell_text, over_seeds

TIMESTEER = [sys.executable, "-m", "timesteer"]
RUN_NAME = re.compile(r"^(?P<variant>.+)-s(?P<seed>\d+)$")


def evaluate(run: Path, rec: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*TIMESTEER, "eval", str(run), "--data", str(rec), "--split", "all", "--json",
                           "--device", "cpu"], capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"eval {run} on {rec}: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    return {"rmse": out["rmse"], "frames": out["frames"], "floors": out.get("floors")}


def report(results: dict, baseline: str) -> str:
    tests = list(results["tests"])
    by: dict[str, dict[int, dict[str, float]]] = {}
    for name, row in results["runs"].items():
        m = RUN_NAME.match(name)
        if m is None:
            continue
        by.setdefault(m["variant"], {})[int(m["seed"])] = {t: row[t]["rmse"] for t in tests}
    lines = ["| variant | seeds | " + " | ".join(tests) + " |", "|---|---:|" + "---:|" * len(tests)]
    base = by.get(baseline, {})
    for variant, seeds in sorted(by.items(), key=lambda kv: (kv[0] != baseline, kv[0])):
        cells = [cell_text(**over_seeds({s: seeds[s][t] for s in seeds},
                                        {s: base[s][t] for s in base} if variant != baseline else None))
                 for t in tests]
        lines.append(f"| `{variant}` | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="a glob of run directories named VARIANT-sSEED")
    ap.add_argument("--tests", required=True, help="NAME=RECORDING,... in the order of the table's columns")
    ap.add_argument("--out", type=Path, required=True, help="the results (kept: a second call only adds what "
                    "is missing)")
    ap.add_argument("--baseline", default="pilotnet")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    tests = dict(item.split("=", 1) for item in args.tests.split(","))
    results = json.loads(args.out.read_text()) if args.out.exists() else {"tests": tests, "runs": {}}
    results["tests"] = tests
    for run in sorted(Path(p) for p in glob.glob(args.runs)):
        if not (run / "run.json").exists():
            continue
        row = results["runs"].setdefault(run.name, {})
        for name, rec in tests.items():
            if name not in row:
                row[name] = evaluate(run, Path(rec))
                print(f"{run.name} on {name}: RMSE {row[name]['rmse']:.4f}", file=sys.stderr)
                args.out.write_text(json.dumps(results, indent=1))
    print(report(results, args.baseline) if args.report else json.dumps(results))


if __name__ == "__main__":
    main()
