"""`timesteer demo`: the whole loop on data it makes itself, on a laptop CPU.

1. The expert drives CarRacing training tracks with steering perturbations (so models see how to
   recover) and held-out test tracks without them.
2. `pilotnet` (one frame) and `cnn_gru` (frames through time, state carried) train on the training tracks.
3. Both are measured open-loop on the test tracks (error against the expert) and closed-loop (they drive
   the test tracks; autonomy as NVIDIA measured it), next to the expert itself.
4. A report directory: a summary page, each model's plots and two-wheel video, and a drive video each.
"""

from __future__ import annotations

import html
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.evaluate.report import data_uri, write_report
from timesteer.evaluate.runner import evaluate_loaded
from timesteer.sim import Conditions, DriveConfig, RecordConfig, drive, record_sim
from timesteer.train import TrainConfig, train
from timesteer.train.run import load_run

MARKER = ".timesteer-demo"


@dataclass
class DemoConfig:
    out: str = "timesteer-demo"
    quick: bool = False
    train_seeds: str = "1-8"
    test_seeds: str = "1001-1003"
    noise: float = 0.4
    epochs: int | None = None  # default 12, or 4 with quick
    models: tuple[str, ...] = ("pilotnet", "cnn_gru")
    workers: int = 0
    seed: int = 0
    progress: bool = True

    def resolved(self) -> DemoConfig:
        epochs = self.epochs if self.epochs is not None else (4 if self.quick else 12)
        if not self.quick:
            return replace(self, epochs=epochs)
        return replace(self, train_seeds="1-3", test_seeds="1001", epochs=epochs)


def _prepare(out: Path) -> None:
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
    from timesteer.sim import parse_seeds

    cfg = cfg.resolved()
    out = Path(cfg.out)
    _prepare(out)
    started = time.perf_counter()
    train_seeds, test_seeds = parse_seeds(cfg.train_seeds), parse_seeds(cfg.test_seeds)
    if set(train_seeds) & set(test_seeds):
        raise TimesteerError("demo: training and test tracks must differ")

    _say(cfg, f"recording the expert on training tracks {cfg.train_seeds} (with steering perturbations)")
    train_rec = record_sim(RecordConfig(seeds=train_seeds, out=str(out / "recordings" / "train"),
                                        conditions=Conditions(noise=cfg.noise), workers=cfg.workers,
                                        progress=cfg.progress))
    _say(cfg, f"recording the expert on held-out test tracks {cfg.test_seeds}")
    test_rec = record_sim(RecordConfig(seeds=test_seeds, out=str(out / "recordings" / "test"), workers=cfg.workers,
                                       progress=cfg.progress))

    rows: list[dict[str, Any]] = []
    report_dir = out / "report"
    expert = drive(DriveConfig(run="expert", seeds=test_seeds, workers=cfg.workers,
                               video_dir=str(report_dir / "drives"), progress=cfg.progress))
    rows.append({"model": "expert", "rmse": 0.0, "smoothness": None, "drive": expert, "page": None,
                 "video": expert["tracks"][0].get("video")})
    test = Recording.open(test_rec)
    for name in cfg.models:
        _say(cfg, f"training {name} for up to {cfg.epochs} epochs")
        run_dir = out / "runs" / name
        train(TrainConfig(data=str(train_rec), out=str(run_dir), model=name, epochs=cfg.epochs,
                          val_split="blocks", seed=cfg.seed, progress=cfg.progress, tensorboard=False))
        run = load_run(run_dir)
        ev = evaluate_loaded(run, test, split="all")
        page = write_report(ev, report_dir / name, video=True, video_seconds=40.0, progress=cfg.progress)
        _say(cfg, f"{name}: open-loop RMSE {ev.metrics['rmse']:.4f} rad on the test tracks; now driving them")
        result = drive(DriveConfig(run=str(run_dir), seeds=test_seeds, workers=cfg.workers,
                                   video_dir=str(report_dir / "drives"), progress=cfg.progress))
        rows.append({"model": name, "rmse": ev.metrics["rmse"], "smoothness": ev.metrics["smoothness_pred"],
                     "drive": result, "page": page.relative_to(report_dir).as_posix(),
                     "video": result["tracks"][0].get("video")})
        _say(cfg, f"{name}: autonomy {result['autonomy_pct']:.1f}%, {result['interventions']} interventions, "
                  f"{result['laps_completed']}/{int(result['laps_attempted'])} laps")

    summary = {"train_seeds": train_seeds, "test_seeds": test_seeds, "noise": cfg.noise, "epochs": cfg.epochs,
               "seconds": round(time.perf_counter() - started, 1),
               "models": [{k: v for k, v in r.items() if k != "drive"} | {
                   "autonomy_pct": r["drive"]["autonomy_pct"], "interventions": r["drive"]["interventions"],
                   "laps_completed": r["drive"]["laps_completed"], "mean_offset_m": r["drive"]["mean_offset_m"]}
                   for r in rows]}
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    index = report_dir / "index.html"
    index.write_text(_summary_page(rows, summary, report_dir), encoding="utf-8")
    _say(cfg, f"done in {summary['seconds'] / 60:.1f} min")
    return index


def _summary_page(rows: list[dict[str, Any]], summary: dict[str, Any], report_dir: Path) -> str:
    esc = html.escape
    body = []
    for r in rows:
        d = r["drive"]
        link = f'<a href="{esc(r["page"])}">{esc(r["model"])}</a>' if r["page"] else esc(r["model"])
        rmse = "0 (it is the label)" if r["model"] == "expert" else f"{r['rmse']:.4f}"
        body.append(f"<tr><td>{link}</td><td>{rmse}</td><td>{d['autonomy_pct']:.1f}%</td><td>{d['interventions']}</td>"
                    f"<td>{d['laps_completed']}/{int(d['laps_attempted'])}</td><td>{d['mean_offset_m']:.2f}</td>"
                    f"<td>{d['steering_jerk_rms_rad_s2']:.2f}</td></tr>")
    videos = []
    for r in rows:
        if r["video"]:
            src = data_uri(Path(r["video"]), "video/mp4")
            videos.append(f'<figure><video controls muted loop playsinline width="400"><source src="{src}" '
                          f'type="video/mp4"></video><figcaption>{esc(r["model"])} driving test track '
                          f'{summary["test_seeds"][0]}</figcaption></figure>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>timesteer demo</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }}</style></head>
<body>
<h1>timesteer demo</h1>
<p>The expert drove CarRacing tracks {esc(str(summary['train_seeds']))} with steering perturbations (noise
{summary['noise']}), recording its corrective steering; the models trained on those frames for up to
{summary['epochs']} epochs. Everything below is measured on held-out tracks {esc(str(summary['test_seeds']))}.
Open-loop: RMSE against the expert's steering, in radians of wheel angle. Closed-loop: the model steers (the
expert's speed controller works the pedals); an intervention is the car's centre leaving the road; autonomy =
(1 - interventions x 6 s / elapsed s) x 100.</p>
<table><tr><th>model</th><th>open-loop RMSE (rad)</th><th>autonomy</th><th>interventions</th><th>laps</th>
<th>mean offset (m)</th><th>steering jerk (rad/s²)</th></tr>
{''.join(body)}
</table>
<p>Each model's name links to its open-loop report: plots and the two-steering-wheel video.</p>
<h2>Closed-loop drives</h2>
{''.join(videos)}
<p>Made in {summary['seconds'] / 60:.1f} minutes. Runs, recordings and this report sit in
{esc(str(report_dir.parent))}.</p>
</body></html>
"""
