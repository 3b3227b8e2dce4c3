"""`timesteer demo`: the whole loop on data it makes itself, on a laptop CPU, ending in the headline:
a model that uses time against one that does not, driving under the conditions real cars have.

1. The expert drives CarRacing training tracks under the demo's conditions (`hard` by default:
   disturbances, 100 ms of latency, lost frames, faster driving), its corrections recorded; and drives
   held-out test tracks cleanly, for the open-loop figures.
2. `pilotnet` (one frame) and `cnn_gru` (frames through time, state carried) train on the training tracks;
   with `dagger_iterations` each then learns from its own drives (DAgger).
3. Both are measured open-loop on the test tracks (error against the expert) and closed-loop: they drive the
   test tracks under the same conditions, next to the expert; autonomy with a 95% interval over tracks, and
   the paired per-track comparison of the two.
4. A report directory: a summary page, each model's report (plots, two-wheel video, how far back it
   looks), and a drive video each.
"""

from __future__ import annotations

import html
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from timesteer.config import Epochs, Range, Seed, Workers, validate
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.evaluate.report import data_uri, write_report
from timesteer.evaluate.runner import evaluate_loaded
from timesteer.files import write_json, write_text
from timesteer.sim import (
    CONDITIONS,
    Conditions,
    DaggerConfig,
    DriveConfig,
    RecordConfig,
    dagger,
    drive,
    paired,
    parse_seeds,
    record_sim,
)
from timesteer.train import TrainConfig, train
from timesteer.train.run import load_run

MARKER = ".timesteer-demo"


def quick_caveat(epochs: int, tracks: int) -> str:
    """With --quick (4 epochs on 3 tracks) the comparison means nothing (measured: cnn_gru 0% against
    pilotnet's 18%; the full demo gives 81% against 25%). Say so, every time, with the run's own sizes."""
    return (f"a --quick run trains too little ({epochs} epochs, {tracks} tracks) for this comparison to mean "
            f"anything; it shows every step works. `timesteer demo` (about 9 minutes on 2 cores) gives the headline")


@dataclass
class DemoConfig:
    out: str = "timesteer-demo"
    quick: bool = False
    train_seeds: str | None = None  # default 1-8, or 1-3 with quick
    test_seeds: str | None = None  # default 1001-1006, or 1001-1002 with quick
    conditions: str = "hard"  # a named set: the training drives and the test drives
    epochs: Annotated[int | None, Epochs] = None  # default 12, or 4 with quick
    dagger_iterations: Annotated[int, Range(0, 1000)] = 0
    models: tuple[str, ...] = ("pilotnet", "cnn_gru")
    workers: Annotated[int, Workers] = 0
    seed: Annotated[int, Seed] = 0
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)
        if self.conditions not in CONDITIONS:
            raise TimesteerError(f"--conditions: expected one of {', '.join(CONDITIONS)}, got {self.conditions!r}")

    def resolved(self) -> DemoConfig:
        # Quick defaults fill only what was not given: seeds passed in are kept (they were overridden before).
        epochs = self.epochs if self.epochs is not None else (4 if self.quick else 12)
        train = self.train_seeds or ("1-3" if self.quick else "1-8")
        test = self.test_seeds or ("1001-1002" if self.quick else "1001-1006")
        return replace(self, train_seeds=train, test_seeds=test, epochs=epochs)


def prepare_out(out: Path) -> None:
    """Make the demo's directory: a directory an earlier demo made (its marker file) is replaced, any other
    existing path refused."""
    if out.exists():
        if not (out / MARKER).exists():
            raise TimesteerError(f"{out}: exists and was not made by `timesteer demo`; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by timesteer demo; rerunning the demo replaces this directory\n")


def _say(cfg: DemoConfig, text: str) -> None:
    if cfg.progress:
        print(f"[demo] {text}", flush=True)


def run_demo(cfg: DemoConfig) -> Path:
    cfg = cfg.resolved()
    out = Path(cfg.out)
    assert cfg.train_seeds is not None and cfg.test_seeds is not None  # resolved
    train_seeds, test_seeds = parse_seeds(cfg.train_seeds), parse_seeds(cfg.test_seeds)
    if set(train_seeds) & set(test_seeds):  # checked before an earlier demo's directory is replaced
        raise TimesteerError("demo: training and test tracks must differ")
    prepare_out(out)
    started = time.perf_counter()
    conditions: Conditions = CONDITIONS[cfg.conditions]

    _say(cfg, f"the expert drives training tracks {cfg.train_seeds} ({conditions.describe()}), its corrections "
              f"recorded")
    train_rec = record_sim(RecordConfig(seeds=train_seeds, out=str(out / "recordings" / "train"),
                                        conditions=conditions, workers=cfg.workers, progress=cfg.progress))
    _say(cfg, f"the expert drives held-out test tracks {cfg.test_seeds} cleanly (open-loop reference)")
    test_rec = record_sim(RecordConfig(seeds=test_seeds, out=str(out / "recordings" / "test"), workers=cfg.workers,
                                       progress=cfg.progress))

    report_dir = out / "report"
    rows: list[dict[str, Any]] = []
    _say(cfg, f"the expert drives the test tracks ({conditions.describe()})")
    expert = drive(DriveConfig(run="expert", seeds=test_seeds, conditions=conditions, workers=cfg.workers,
                               video_dir=str(report_dir / "drives"), progress=cfg.progress))
    rows.append({"model": "expert", "rmse": 0.0, "drive": expert, "page": None,
                 "video": expert["tracks"][0].get("video")})
    test = Recording.open(test_rec)
    for name in cfg.models:
        run_dir = out / "runs" / name
        if cfg.dagger_iterations:
            _say(cfg, f"{name}: behaviour cloning, then {cfg.dagger_iterations} DAgger iterations")
            state = dagger(DaggerConfig(data=str(train_rec), seeds=train_seeds, out=str(run_dir), model=name,
                                        iterations=cfg.dagger_iterations, conditions=conditions, epochs=cfg.epochs,
                                        epochs_per_iteration=max(1, cfg.epochs // 2), seed=cfg.seed,
                                        train={"tensorboard": False}, workers=cfg.workers, progress=cfg.progress))
            final = Path(state["final"])
        else:
            _say(cfg, f"training {name} for up to {cfg.epochs} epochs")
            train(TrainConfig(data=str(train_rec), out=str(run_dir), model=name, epochs=cfg.epochs,
                              val_split="blocks", seed=cfg.seed, progress=cfg.progress, tensorboard=False))
            final = run_dir
        run = load_run(final)
        ev = evaluate_loaded(run, test, split="all")
        # A quick run skips the through-time figures: they cost about as much as a model's training there.
        page = write_report(ev, report_dir / name, video=True, video_seconds=30.0, progress=cfg.progress,
                            explain=not cfg.quick)
        _say(cfg, f"{name}: open-loop RMSE {ev.metrics['rmse']:.4f} rad on the test tracks; now driving them")
        result = drive(DriveConfig(run=str(final), seeds=test_seeds, conditions=conditions, workers=cfg.workers,
                                   video_dir=str(report_dir / "drives"), progress=cfg.progress))
        rows.append({"model": name, "rmse": ev.metrics["rmse"], "drive": result,
                     "page": page.relative_to(report_dir).as_posix(), "video": result["tracks"][0].get("video")})
        _say(cfg, f"{name}: autonomy {result['autonomy_pct']:.1f}%, {result['interventions']} interventions")

    comparison = None
    by_model = {r["model"]: r["drive"]["tracks"] for r in rows}
    if "cnn_gru" in by_model and "pilotnet" in by_model:
        comparison = paired(by_model["cnn_gru"], by_model["pilotnet"])
    summary = {"train_seeds": train_seeds, "test_seeds": test_seeds, "conditions": cfg.conditions,
               "conditions_text": conditions.describe(), "epochs": cfg.epochs,
               "dagger_iterations": cfg.dagger_iterations, "quick": cfg.quick,
               "seconds": round(time.perf_counter() - started, 1),
               "cnn_gru_minus_pilotnet": comparison,
               "models": [{k: v for k, v in r.items() if k != "drive"} | {
                   "autonomy_pct": r["drive"]["autonomy_pct"], "autonomy_ci95": r["drive"]["interval"]["autonomy_ci95"],
                   "interventions": r["drive"]["interventions"], "mean_offset_m": r["drive"]["mean_offset_m"]}
                   for r in rows]}
    write_json(report_dir / "summary.json", summary)
    index = report_dir / "index.html"
    write_text(index, _summary_page(rows, summary, report_dir))
    if comparison is not None:
        lo, hi = comparison["autonomy_diff_ci95"]
        _say(cfg, f"headline: cnn_gru minus pilotnet, autonomy {comparison['autonomy_diff_pct']:+.1f} points "
                  f"(95% interval over tracks {lo:+.1f} to {hi:+.1f})")
        if cfg.quick:
            _say(cfg, quick_caveat(cfg.epochs, len(train_seeds)))
    _say(cfg, f"done in {summary['seconds'] / 60:.1f} min")
    return index


def _summary_page(rows: list[dict[str, Any]], summary: dict[str, Any], report_dir: Path) -> str:
    esc = html.escape
    body = []
    for r in rows:
        d = r["drive"]
        lo, hi = d["interval"]["autonomy_ci95"]
        link = f'<a href="{esc(r["page"])}">{esc(r["model"])}</a>' if r["page"] else esc(r["model"])
        rmse = "0 (it is the label)" if r["model"] == "expert" else f"{r['rmse']:.4f}"
        body.append(f"<tr><td>{link}</td><td>{rmse}</td><td>{d['autonomy_pct']:.1f}% ({lo:.1f}-{hi:.1f})</td>"
                    f"<td>{d['interventions']}</td><td>{d['laps_fraction']:.2f}</td><td>{d['mean_offset_m']:.2f}</td>"
                    f"<td>{d['steering_jerk_rms_rad_s3']:.0f}</td></tr>")
    headline = ""
    c = summary["cnn_gru_minus_pilotnet"]
    if c is not None:
        lo, hi = c["autonomy_diff_ci95"]
        verdict = (quick_caveat(summary["epochs"], len(summary["train_seeds"])) if summary["quick"] else
                   "the model that uses time drives better" if c["a_better"] else
                   "the single-frame model drives better" if c["b_better"] else
                   "on these few tracks the difference is within the noise")
        headline = (f"<p class='headline'><b>cnn_gru minus pilotnet: {c['autonomy_diff_pct']:+.1f} points of "
                    f"autonomy</b> (95% interval over the {c['tracks']} test tracks {lo:+.1f} to {hi:+.1f}; better on "
                    f"{c['tracks_a_better']} tracks, worse on {c['tracks_b_better']}): {verdict}. BENCHMARKS.md has "
                    f"the same on 20 tracks and 3 seeds.</p>")
    videos = []
    for r in rows:
        if r["video"]:
            src = data_uri(Path(r["video"]), "video/mp4")
            videos.append(f'<figure><video controls muted loop playsinline width="400"><source src="{src}" '
                          f'type="video/mp4"></video><figcaption>{esc(r["model"])} driving test track '
                          f'{summary["test_seeds"][0]}</figcaption></figure>')
    how = "then learned from their own drives (DAgger), " if summary["dagger_iterations"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>timesteer demo</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }} .headline {{ font-size: 1.15em; }}</style></head>
<body>
<h1>timesteer demo: steering through time, under the conditions real cars have</h1>
<p>The expert drove CarRacing tracks {esc(str(summary['train_seeds']))} under the <b>{esc(summary['conditions'])}</b>
conditions ({esc(summary['conditions_text'])}), its corrections recorded. <code>pilotnet</code> sees one frame;
<code>cnn_gru</code> sees frames through time, its state carried from frame to frame. Both trained on those drives for
up to {summary['epochs']} epochs, {how}and drove held-out tracks {esc(str(summary['test_seeds']))} under the same
conditions, next to the expert (who sees the true state, including its delayed commands and the pushes on the
steering). An intervention is the car's centre leaving the road; autonomy = (1 - interventions x 6 s / elapsed s) x
100, with a 95% interval over tracks.</p>
{headline}
<table><tr><th>driver</th><th>open-loop RMSE (rad, clean test drives)</th><th>autonomy (95% interval)</th>
<th>interventions</th><th>laps</th><th>mean offset (m)</th><th>steering jerk (rad/s³)</th></tr>
{''.join(body)}
</table>
<p>Each model's name links to its report: plots, the two-steering-wheel video, and how far back it looks.</p>
<h2>Closed-loop drives</h2>
{''.join(videos)}
<p>Made in {summary['seconds'] / 60:.1f} minutes. Runs, recordings and this report sit in
{esc(str(report_dir.parent))}.</p>
</body></html>
"""
