"""`timesteer compare`: several runs on the same frames, one table, best first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from timesteer.config import validate
from timesteer.errors import TimesteerError
from timesteer.evaluate.runner import choose_spans, evaluate_set, open_recordings
from timesteer.train.run import Which, load_run

COLUMNS = ("run", "model", "rmse", "mae", "p95_abs_error", "smoothness_pred", "frames")


@dataclass
class CompareConfig:
    runs: list[str]
    data: str | list[str]  # recordings, directories of recordings, or dataset files
    split: Literal["val", "all"] = "val"
    min_speed: float | None = None
    checkpoint: Which = "best"
    device: str = "auto"

    def __post_init__(self) -> None:
        validate(self)


def compare(cfg: CompareConfig) -> dict[str, Any]:
    if not cfg.runs:
        raise TimesteerError("compare needs at least one run")
    recs = open_recordings([cfg.data] if isinstance(cfg.data, str) else list(cfg.data))
    runs = [load_run(r, cfg.checkpoint, cfg.device) for r in cfg.runs]
    for rec in recs:
        spans = [choose_spans(r, rec, cfg.split) for r in runs]
        if any(s != spans[0] for s in spans[1:]):
            raise TimesteerError(f"these runs hold out different validation frames of {rec.path}; compare them on "
                                 f"the same frames with --split all")
    rows = []
    for run in runs:
        evs = evaluate_set(run, recs, cfg.split, cfg.min_speed, str(run.model.target_mean.device))
        m = evs.metrics
        rows.append({"run": str(run.path), "model": run.model.name, "rmse": m["rmse"], "mae": m["mae"],
                     "p95_abs_error": m["p95_abs_error"], "smoothness_pred": m["smoothness_pred"],
                     "smoothness_true": m["smoothness_true"], "frames": m["frames"], "rmse_rad": m.get("rmse_rad"),
                     "per_recording": [{"data": str(p.rec.path), "frames": p.metrics["frames"],
                                        "rmse": p.metrics["rmse"]} for p in evs.parts]})
    rows.sort(key=lambda r: r["rmse"])
    return {"data": [str(r.path) for r in recs] if len(recs) > 1 else str(recs[0].path), "split": cfg.split,
            "unit": recs[0].manifest.steering.unit, "min_speed": cfg.min_speed, "rows": rows}


def markdown_table(table: dict[str, Any]) -> str:
    several = len(table["rows"][0]["per_recording"]) > 1 if table["rows"] else False
    names = [Path(p["data"]).name for p in table["rows"][0]["per_recording"]] if several else []
    head = ["rank", "run", "model", f"RMSE ({table['unit']})" + (" total" if several else ""),
            *[f"RMSE {n}" for n in names], "MAE", "p95 |err|", "smoothness model / human", "frames"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(table["rows"], start=1):
        per = [f"{p['rmse']:.4f}" for p in r["per_recording"]] if several else []
        lines.append("| " + " | ".join([str(i), r["run"], r["model"], f"{r['rmse']:.4f}", *per, f"{r['mae']:.4f}",
                                        f"{r['p95_abs_error']:.4f}",
                                        f"{_num(r['smoothness_pred'])} / {_num(r['smoothness_true'])}",
                                        str(r["frames"])]) + " |")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
