"""`timesteer compare`: several runs on the same frames, one table, best first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from timesteer.config import Speed, validate
from timesteer.errors import ModelFailed, TimesteerError
from timesteer.evaluate.metrics import figure
from timesteer.evaluate.runner import SPEED_ASSUMED, choose_spans, evaluate_set, open_recordings
from timesteer.train.run import LoadedRun, Which, load_run, read_run_info

COLUMNS = ("run", "model", "rmse", "mae", "p95_abs_error", "smoothness_pred", "frames")


@dataclass
class CompareConfig:
    runs: list[str]
    data: str | list[str]  # recordings, directories of recordings, or dataset files
    split: Literal["val", "all"] = "val"
    min_speed: Annotated[float | None, Speed] = None
    checkpoint: Which = "best"
    device: str = "auto"

    def __post_init__(self) -> None:
        validate(self)


def compare(cfg: CompareConfig) -> dict[str, Any]:
    """One row per run, best first. A run whose model fails (NaN or infinite weights or outputs) is a row
    marked failed, with the reason, at the bottom: one broken run does not hide the others."""
    if not cfg.runs:
        raise TimesteerError("compare needs at least one run")
    recs = open_recordings([cfg.data] if isinstance(cfg.data, str) else list(cfg.data))
    runs: list[LoadedRun | ModelFailed] = []
    for name in cfg.runs:
        try:
            runs.append(load_run(name, cfg.checkpoint, cfg.device))
        except ModelFailed as exc:
            runs.append(exc)
    loaded = [r for r in runs if isinstance(r, LoadedRun)]
    for rec in recs:
        spans = [choose_spans(r, rec, cfg.split) for r in loaded]
        if any(s != spans[0] for s in spans[1:]):
            raise TimesteerError(f"these runs hold out different validation frames of {rec.path}; compare them on "
                                 f"the same frames with --split all")
    rows = []
    for name, run in zip(cfg.runs, runs, strict=True):
        try:
            if isinstance(run, ModelFailed):
                raise run
            evs = evaluate_set(run, recs, cfg.split, cfg.min_speed, str(run.model.target_mean.device))
        except ModelFailed as exc:
            rows.append({"run": name, "model": _model_name(name), "failed": str(exc),
                         **dict.fromkeys(("rmse", "mae", "p95_abs_error", "smoothness_pred", "smoothness_true",
                                          "rmse_rad", "keyframes_rmse", "floors")), "frames": 0, "per_recording": []})
            continue
        m = evs.metrics
        rows.append({"run": str(run.path), "model": run.model.name, "rmse": m["rmse"], "mae": m["mae"],
                     "p95_abs_error": m["p95_abs_error"], "smoothness_pred": m["smoothness_pred"],
                     "smoothness_true": m["smoothness_true"], "frames": m["frames"], "rmse_rad": m.get("rmse_rad"),
                     "keyframes_rmse": m["floors"]["keyframes"]["rmse"], "floors": m["floors"],
                     "speed_assumed": bool(m.get("speed_assumed")),
                     "per_recording": [{"data": str(p.rec.path), "frames": p.metrics["frames"],
                                        "rmse": p.metrics["rmse"]} for p in evs.parts]})
    rows.sort(key=lambda r: (r["rmse"] is None, r["rmse"] or 0.0))
    return {"data": [str(r.path) for r in recs] if len(recs) > 1 else str(recs[0].path), "split": cfg.split,
            "unit": recs[0].manifest.steering.unit, "min_speed": cfg.min_speed, "rows": rows}


def _model_name(run: str) -> str:
    try:
        return str(read_run_info(run).model.get("name", "?"))
    except TimesteerError:
        return "?"


def markdown_table(table: dict[str, Any]) -> str:
    working = [r for r in table["rows"] if "failed" not in r]
    several = len(working[0]["per_recording"]) > 1 if working else False
    names = [Path(p["data"]).name for p in working[0]["per_recording"]] if several else []
    head = ["rank", "run", "model", f"RMSE ({table['unit']})" + (" total" if several else ""),
            *[f"RMSE {n}" for n in names], "RMSE keyframes", "MAE", "p95 |err|", "smoothness model / human",
            "frames"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(table["rows"], start=1):
        if "failed" in r:
            cells = [str(i), r["run"], r["model"], "failed", *["-"] * (len(head) - 4)]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        per = [f"{p['rmse']:.4f}" for p in r["per_recording"]] if several else []
        model = r["model"] + (" *" if r.get("speed_assumed") else "")
        lines.append("| " + " | ".join([str(i), r["run"], model, f"{r['rmse']:.4f}", *per,
                                        figure(r["keyframes_rmse"]), f"{r['mae']:.4f}",
                                        f"{r['p95_abs_error']:.4f}",
                                        f"{figure(r['smoothness_pred'])} / {figure(r['smoothness_true'])}",
                                        str(r["frames"])]) + " |")
    if working:  # the same frames for every run: one line of floors (the mean is the first run's)
        f = working[0]["floors"]
        lines.append(f"floors on these frames: zero {figure(f['zero_rmse'])}, training mean {figure(f['mean_rmse'])}, "
                     f"copycat (previous label) {figure(f['copycat_rmse'])}; on the keyframes zero "
                     f"{figure(f['keyframes']['zero_rmse'])}, copycat {figure(f['keyframes']['copycat_rmse'])} "
                     f"({f['keyframes']['how']})")
    if any(r.get("speed_assumed") for r in working):
        lines.append(f"* speed: {SPEED_ASSUMED}")
    lines += [f"failed: {r['failed']}" for r in table["rows"] if "failed" in r]
    return "\n".join(lines)


