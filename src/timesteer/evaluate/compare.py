"""`timesteer compare`: several runs on the same frames, one table, best first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.evaluate.runner import choose_spans, evaluate_loaded
from timesteer.train.run import Which, load_run

COLUMNS = ("run", "model", "rmse", "mae", "p95_abs_error", "smoothness_pred", "frames")


@dataclass
class CompareConfig:
    runs: list[str]
    data: str
    split: Literal["val", "all"] = "val"
    min_speed: float | None = None
    checkpoint: Which = "best"
    device: str = "auto"


def compare(cfg: CompareConfig) -> dict[str, Any]:
    if not cfg.runs:
        raise TimesteerError("compare needs at least one run")
    rec = Recording.open(cfg.data)
    runs = [load_run(r, cfg.checkpoint, cfg.device) for r in cfg.runs]
    spans = [choose_spans(r, rec, cfg.split) for r in runs]
    if any(s != spans[0] for s in spans[1:]):
        raise TimesteerError("these runs hold out different validation frames of this recording; compare them on "
                             "the same frames with --split all")
    rows = []
    for run in runs:
        ev = evaluate_loaded(run, rec, cfg.split, cfg.min_speed, str(run.model.target_mean.device))
        m = ev.metrics
        rows.append({"run": str(run.path), "model": run.model.name, "rmse": m["rmse"], "mae": m["mae"],
                     "p95_abs_error": m["p95_abs_error"], "smoothness_pred": m["smoothness_pred"],
                     "smoothness_true": m["smoothness_true"], "frames": m["frames"], "rmse_rad": m.get("rmse_rad")})
    rows.sort(key=lambda r: r["rmse"])
    return {"data": str(rec.path), "split": cfg.split, "unit": rec.manifest.steering.unit,
            "min_speed": cfg.min_speed, "rows": rows}


def markdown_table(table: dict[str, Any]) -> str:
    head = ["rank", "run", "model", f"RMSE ({table['unit']})", "MAE", "p95 |err|", "smoothness model / human",
            "frames"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(table["rows"], start=1):
        lines.append(f"| {i} | {r['run']} | {r['model']} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['p95_abs_error']:.4f} "
                     f"| {r['smoothness_pred']:.4f} / {r['smoothness_true']:.4f} | {r['frames']} |")
    return "\n".join(lines)
