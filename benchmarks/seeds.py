"""A figure over seeds, as the benchmark tables show it: mean and spread, and minus the baseline paired by
seed (mean [min, max]); only seeds the baseline also ran are paired."""

from __future__ import annotations

import statistics


def over_seeds(values: dict[int, float], baseline: dict[int, float] | None = None) -> dict:
    """`values` and `baseline` by seed -> mean, sd, and minus the baseline paired by seed (None without)."""
    vals = [values[s] for s in sorted(values)]
    paired = [values[s] - baseline[s] for s in sorted(values) if baseline is not None and s in baseline]
    return {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "minus": statistics.fmean(paired) if paired else None,
            "minus_range": [min(paired), max(paired)] if paired else None}


def cell_text(mean: float, sd: float, minus: float | None = None, minus_range: list[float] | None = None) -> str:
    """'0.0446 ± 0.0006 (-0.0395 [-0.0453, -0.0316])'; the bracket only where there is a paired difference."""
    text = f"{mean:.4f} ± {sd:.4f}"
    if minus is not None and minus_range is not None:
        text += f" ({minus:+.4f} [{minus_range[0]:+.4f}, {minus_range[1]:+.4f}])"
    return text
