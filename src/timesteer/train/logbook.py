"""Per-epoch records: `metrics.csv` (one row per epoch, appended) and TensorBoard scalars.

Epochs are numbered from 1 everywhere (console, metrics.csv, run.json, TensorBoard). `train_loss` is on
standardised targets (what the optimiser minimises); `train_rmse`, `val_rmse` and `val_mae` are in the
recording's steering unit. `grad_through_time` (with --grad-through-time) holds the mean norm of
dL_t/dh_{t-k} for k = 0, 1, ... separated by spaces."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ["epoch", "train_loss", "train_rmse", "val_rmse", "val_mae", "lr", "frames", "seconds", "frames_per_s",
           "data_wait_fraction", "peak_rss_mib", "grad_through_time"]


class Logbook:
    def __init__(self, run_dir: Path, tensorboard: bool, first_epoch: int) -> None:
        self.path = run_dir / "metrics.csv"
        # first_epoch counts epochs already done (0 for a new run).
        if first_epoch == 0 or not self.path.exists():
            with open(self.path, "w", newline="") as fh:
                csv.writer(fh).writerow(COLUMNS)
        else:
            self._truncate_after(first_epoch)
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=first_epoch + 1)

    def _truncate_after(self, first_epoch: int) -> None:
        """On resume, drop rows of epochs that will be trained again (a kill after the row, before the
        checkpoint, would otherwise leave a duplicate)."""
        with open(self.path, newline="") as fh:
            rows = list(csv.reader(fh))
        keep = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= first_epoch]
        with open(self.path, "w", newline="") as fh:
            csv.writer(fh).writerows(keep)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as fh:
            csv.writer(fh).writerow([_fmt(row.get(c)) for c in COLUMNS])
        if self.tb is not None:
            for key in ("train_loss", "train_rmse", "val_rmse", "val_mae", "lr", "frames_per_s", "data_wait_fraction"):
                if row.get(key) is not None:
                    self.tb.add_scalar(key, row[key], row["epoch"])
            if row.get("grad_through_time"):
                norms = [float(v) for v in row["grad_through_time"].split()]
                for k, v in enumerate(norms):
                    if np.isfinite(v):
                        self.tb.add_scalar(f"grad_through_time/lag_{k:02d}", v, row["epoch"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
