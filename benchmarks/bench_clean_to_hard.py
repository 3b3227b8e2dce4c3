"""Closed loop under a shift in history: trained on the expert's *clean* CarRacing driving, driven under
`hard` (pushes, 100 ms latency, lost frames, faster) on held-out tracks. Issue 29.

    timesteer record-sim --seeds 1-8 --conditions clean --out REC          # the expert, undisturbed
    python benchmarks/bench_clean_to_hard.py --data REC --out /tmp/c2h [--workers 2] [--tracks 1001-1020]
    python benchmarks/bench_clean_to_hard.py --data REC --out /tmp/c2h --report

Each variant (`VARIANTS`) trains 12 epochs with `--val-split blocks` (the setting of BENCHMARKS.md's
closed-loop table) for each seed, one thread each, `--workers` at a time, then drives every held-out
track under `hard` (`timesteer drive --json`); `timesteer compare-drives` pairs each variant with
`pilotnet` track by track. A killed benchmark resumes: finished runs and drives are kept.

Duckietown (its dashcam; pushes made by data/dashcam.py), the recording made smaller for training:

    timesteer record-sim --sim duckietown --maps loop_empty,small_loop,zigzag_dists,4way --seeds 1-3 \
        --max-seconds 20 --conditions clean --size 60x80 --out DTREC
    python benchmarks/bench_clean_to_hard.py --data DTREC --out /tmp/dt --epochs 20 --tracks 101-102 \
        --drive '--sim duckietown --maps udem1,small_loop_cw,regress_4way_adam,ETHZ_loop,Montreal_loop --max-seconds 20'
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import glob
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from as_read import as_read, without_warp

# Pushes are the default for the models that use time (AugmentConfig.push_rate_hz); the variants without
# them say so, so every row means what it meant when it was measured.
NO_PUSH = '{"push_rate_hz": 0}'
PER_SECOND = '{"motion_per_second": true}'
PER_DISTANCE = '{"motion_per_distance": true}'
PUSH = '{"push_rate_hz": 0.5}'  # the settings every "+push" variant was measured with
PUSH_WARP = '{"push_rate_hz": 0.5, "time_warp": 1.0}'
LEAD = ["--label-lead-s", "0.1"]
HEADS = ["--lead-heads-s", "0.05,0.1,0.15,0.2"]
HEAD01 = ["--lead-heads-s", "0.1"]

VARIANTS = {
    "pilotnet": ["--model", "pilotnet"],
    "cnn_gru": ["--model", "cnn_gru", "--augment", NO_PUSH],
    "diffnet": ["--model", "diffnet", "--augment", NO_PUSH],
    "cnn_gru+warp": ["--model", "cnn_gru", "--augment", '{"time_warp": 0.5, "push_rate_hz": 0}'],
    "cnn_gru+warp1": ["--model", "cnn_gru", "--augment", '{"time_warp": 1.0, "push_rate_hz": 0}'],
    "cnn_gru+motiondrop": ["--model", "cnn_gru", "--model-config", '{"motion_dropout": 0.5}', "--augment", NO_PUSH],
    "cnn_gru-slide": ["--model", "cnn_gru", "--model-config", '{"shift_bands": 0}', "--augment", NO_PUSH],
    "conv3d_lstm": ["--model", "conv3d_lstm", "--augment", NO_PUSH],
    # Pushes made in the picture (data/push.py): one every 2 s on average, up to 0.2 rad, the driver in the
    # picture reacting within 0.2 s and bringing the car back over about 0.5 s.
    "pilotnet+push": ["--model", "pilotnet", "--augment", PUSH],
    "cnn_gru+push": ["--model", "cnn_gru", "--augment", PUSH],
    "diffnet+push": ["--model", "diffnet", "--augment", PUSH],
    # and time warp (stretches at 2x and 0.5x, now and then a lost or repeated frame): `hard` also drives
    # faster and loses frames
    "cnn_gru+push+warp1": ["--model", "cnn_gru", "--augment", PUSH_WARP],
    "diffnet+push+warp1": ["--model", "diffnet", "--augment", PUSH_WARP],
    # and labels 100 ms ahead of their pictures: `hard`'s commands act 100 ms after the frame they came from
    "diffnet+push+lead": ["--model", "diffnet", "--augment", PUSH, *LEAD],
    # The motion divided by the distance travelled per frame (issue 29's speed-invariant motion).
    "diffnet+perdist": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", NO_PUSH],
    "cnn_gru+perdist": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment", NO_PUSH],
    "pilotnet+push+lead": ["--model", "pilotnet", "--augment", PUSH, *LEAD],
    "cnn_gru+push+lead": ["--model", "cnn_gru", "--augment", PUSH, *LEAD],
    # and the motion divided by the distance travelled: `hard` drives 1.2x faster than the clean recording, and a
    # lost frame doubles the distance to the next one
    "diffnet+push+lead+perdist": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", PUSH, *LEAD],
    "diffnet+push+perdist": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", PUSH],
    "cnn_gru+push+lead+perdist": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment", PUSH, *LEAD],
    "cnn_gru+push+perdist": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment", PUSH],
    # and time warp on top (the defaults plus stretches at 2x and 0.5x): should time warp be a default too?
    "diffnet+push+perdist+warp1": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", PUSH_WARP],
    "cnn_gru+push+perdist+warp1": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment", PUSH_WARP],
    # the lecture's LSTM with the same defaults, with and without time warp: does `cnn_gru`'s default carry over?
    "cnn_lstm+push+perdist": ["--model", "cnn_lstm", "--model-config", PER_DISTANCE, "--augment", PUSH],
    "cnn_lstm+push+perdist+warp1": ["--model", "cnn_lstm", "--model-config", PER_DISTANCE, "--augment", PUSH_WARP],
    # or by the time between frames: for Duckietown's yaw command (a turn rate), which a faster robot needs more
    # of on the same curve; only a lost frame's doubled time is taken out
    "diffnet+push+lead+persec": ["--model", "diffnet", "--model-config", PER_SECOND, "--augment", PUSH, *LEAD],
    "diffnet+push+persec": ["--model", "diffnet", "--model-config", PER_SECOND, "--augment", PUSH],
    "cnn_gru+push+persec": ["--model", "cnn_gru", "--model-config", PER_SECOND, "--augment", PUSH],
    # and time warp, as `cnn_gru`'s defaults have it since: for Duckietown's dashcam
    "cnn_gru+push+persec+warp1": ["--model", "cnn_gru", "--model-config", PER_SECOND, "--augment", PUSH_WARP],
    # Lead heads (train/lead_heads.py): one output per lead, the drive steering with the one for its latency
    # (`hard`: 100 ms), on top of the defaults of 2026-12-07 (pushes, motion per distance, for `cnn_gru` on
    # clean driving time warp). Measured level with them: an option, not a default.
    "diffnet+push+perdist+heads": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", PUSH, *HEADS],
    "cnn_gru+push+perdist+warp1+heads": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment",
                                         PUSH_WARP, *HEADS],
    # and on disturbed driving, where the plain steering already leads by the recording's latency and steers
    # under `hard` (the defaults there: no time warp)
    "cnn_gru+push+perdist+heads": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment", PUSH, *HEADS],
    # through Duckietown's dashcam (its defaults: motion per second)
    "cnn_gru+push+persec+warp1+heads": ["--model", "cnn_gru", "--model-config", PER_SECOND, "--augment", PUSH_WARP,
                                        *HEADS],
    # One head, at 0.1 s (the default of `diffnet` and `cnn_gru` on clean recordings since 2026-12-07: one head
    # drove better than four)
    "diffnet+push+perdist+head01": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", PUSH, *HEAD01],
    "cnn_gru+push+perdist+warp1+head01": ["--model", "cnn_gru", "--model-config", PER_DISTANCE, "--augment",
                                          PUSH_WARP, *HEAD01],
    "cnn_gru+push+persec+warp1+head01": ["--model", "cnn_gru", "--model-config", PER_SECOND, "--augment", PUSH_WARP,
                                         *HEAD01],
    # the defaults without the picture's sideways slide (the feature issue 29 named as the copycat's)
    "cnn_gru+push+perdist+warp1+head01-slide": ["--model", "cnn_gru", "--model-config",
                                                '{"motion_per_distance": true, "shift_bands": 0}', "--augment",
                                                PUSH_WARP, *HEAD01],
    # the defaults with the frame and two differences, as `diffnet` sees them
    "cnn_gru+push+perdist+warp1+head01+mf3": ["--model", "cnn_gru", "--model-config",
                                              '{"motion_per_distance": true, "motion_frames": 3}', "--augment",
                                              PUSH_WARP, *HEAD01],
    # the defaults with diffnet's 100 features a frame
    "cnn_gru+push+perdist+warp1+head01+fd100": ["--model", "cnn_gru", "--model-config",
                                                '{"motion_per_distance": true, "feature_dim": 100}', "--augment",
                                                PUSH_WARP, *HEAD01],
    # a head at a slower car's latency (driven with `--drive '--latency-ms 200'`)
    "diffnet+push+perdist+head02": ["--model", "diffnet", "--model-config", PER_DISTANCE, "--augment", PUSH,
                                    "--lead-heads-s", "0.2"],
}

# The motion measured against the distance or the time is the default since 2026-12-06: the variants without
# "+perdist" or "+persec" keep the motion as read, as they were measured (as_read.py).
# Likewise time warp, `cnn_gru`'s default since the same day: the variants that do not set it go without,
# and a lead head at 0.1 s, the default of `diffnet` and `cnn_gru` on clean recordings since 2026-12-07: the
# variants that do not ask for heads have none.
def _with(args: list[str], flag: str, settle) -> list[str]:
    """`args` with the JSON after `flag` passed through `settle(model, dict)` (added when it says more)."""
    model = args[args.index("--model") + 1]
    if flag not in args:
        config = settle(model, {})
        return [*args, flag, json.dumps(config)] if config else args
    i = args.index(flag) + 1
    return [*args[:i], json.dumps(settle(model, json.loads(args[i]))), *args[i + 1 :]]


def _as_measured(args: list[str]) -> list[str]:
    # Lead heads (a default since 2026-12-07): none unless a variant asks.
    heads = [] if "--lead-heads-s" in args else ["--lead-heads-s", ""]
    return [*_with(_with(args, "--model-config", as_read), "--augment", without_warp), *heads]


VARIANTS = {name: _as_measured(args) for name, args in VARIANTS.items()}

TIMESTEER = [sys.executable, "-m", "timesteer"]  # the interpreter this script runs with, venv or not


def sh(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*TIMESTEER, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"timesteer {' '.join(args)}: {proc.stderr[-2000:]}")


def train_and_drive(data: Path, out: Path, variant: str, seed: int, tracks: str, conditions: str = "hard",
                    epochs: int = 12, drive: tuple[str, ...] = ()) -> str:
    run = out / "runs" / f"{variant}-s{seed}"
    status = json.loads((run / "run.json").read_text())["status"] if (run / "run.json").exists() else None
    if (run / "last.pt").exists() and status == "running":  # killed half way: go on from its last epoch
        sh("train", "--resume", str(run), "--threads", "1", "--quiet")
    elif status not in ("finished", "early-stopped"):
        sh("train", "--data", str(data), "--out", str(run), *VARIANTS[variant], "--epochs", str(epochs), "--val-split",
           "blocks", "--seed", str(seed), "--threads", "1", "--quiet", "--no-tensorboard")
    drive_json = out / "drives" / f"{variant}-s{seed}{'' if conditions == 'hard' else '-' + conditions}.json"
    if not drive_json.exists():
        drive_json.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([*TIMESTEER, "drive", str(run), "--seeds", tracks, "--conditions", conditions, "--json",
                               "--workers", "1", "--quiet", *drive], capture_output=True, text=True, env=env,
                              check=False)
        if proc.returncode:
            raise RuntimeError(f"drive {run}: {proc.stderr[-2000:]}")
        drive_json.write_text(proc.stdout)
    return str(drive_json)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tracks", default="1001-1020")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--conditions", default="hard", help="drive under these conditions (files: VARIANT-sSEED.json "
                    "for hard, VARIANT-sSEED-CONDITIONS.json otherwise)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--drive", default="", help="more options for `timesteer drive`, e.g. the simulator and maps")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    variants = args.variants.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    if not args.report:
        jobs = [(v, s) for s in seeds for v in variants]
        with cf.ThreadPoolExecutor(args.workers) as pool:
            def one(job: tuple[str, int]) -> str:
                return train_and_drive(args.data, args.out, *job, args.tracks, args.conditions, args.epochs,
                                       tuple(shlex.split(args.drive)))

            for (v, s), path in zip(jobs, pool.map(one, jobs), strict=True):
                print(f"{v} seed {s}: {path}", file=sys.stderr)
    drivers = []
    for v in VARIANTS:  # everything driven so far, pilotnet (the baseline) first
        tail = "" if args.conditions == "hard" else re.escape("-" + args.conditions)
        files = sorted(str(f) for f in (args.out / "drives").glob(f"{glob.escape(v)}-s*.json")
                       if re.fullmatch(rf"{re.escape(v)}-s\d+{tail}\.json", f.name))  # not cnn_gru-slide for cnn_gru
        if files:
            drivers.append(f"{v}={','.join(files)}")
    # Paired against pilotnet where it was driven, else against the first variant driven (VARIANTS' order).
    baseline = ["--baseline", "pilotnet"] if any(d.startswith("pilotnet=") for d in drivers) else []
    proc = subprocess.run([*TIMESTEER, "compare-drives", *drivers, *baseline]
                          + ([] if args.report else ["--json"]), capture_output=True, text=True, check=False)
    print(proc.stdout or proc.stderr)


if __name__ == "__main__":
    main()
