"""`timesteer compare-drives`: closed-loop results of several drivers, each over several seeds, side by
side, from the JSON that `timesteer drive --json` wrote, and each driver against a baseline track by track.

A claim about a model is a mean and spread over seeds, and a comparison is only fair on the same drives
(the same maps or tracks, seeds and conditions, so the same events). This checks that, pools each
driver's seeds per track (interventions and seconds summed, autonomy the mean of the seeds'), gives the
pooled autonomy with its 95% interval over tracks (`stats.track_interval`), each seed's own figure, the
interventions by cause, and the paired difference to the baseline with its interval (`stats.paired`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timesteer.config import validate
from timesteer.errors import ConfigError, InputError
from timesteer.sim.episode import autonomy_pct
from timesteer.sim.stats import paired, track_interval

TRACK_FIELDS = ("track", "interventions", "elapsed_s", "autonomy_pct")


@dataclass
class CompareDrivesConfig:
    drivers: dict[str, list[str]]  # driver name -> its `drive --json` files, one per training seed
    baseline: str | None = None  # the driver the others are paired against (default: the first)

    def __post_init__(self) -> None:
        validate(self, "compare-drives")
        if not self.drivers:
            raise ConfigError("compare-drives: no driver given")
        for name, files in self.drivers.items():
            if not files:
                raise ConfigError(f"compare-drives: driver {name!r} has no drive file")
        if self.baseline is not None and self.baseline not in self.drivers:
            raise ConfigError(f"compare-drives: baseline {self.baseline!r} is not one of the drivers "
                              f"({', '.join(self.drivers)})")


def parse_drivers(items: list[str]) -> dict[str, list[str]]:
    """`NAME=FILE[,FILE...]` (or a bare FILE: a driver of one seed named after the file) -> {name: files}."""
    drivers: dict[str, list[str]] = {}
    for item in items:
        name, sep, files = item.partition("=")
        if not sep:
            name, files = Path(item).stem, item
        if not name or not files:
            raise ConfigError(f"compare-drives: {item!r}: expected NAME=FILE[,FILE...]")
        if name in drivers:
            raise ConfigError(f"compare-drives: driver {name!r} given twice; list all its files once, "
                              "comma separated")
        drivers[name] = [f for f in files.split(",") if f]
    return drivers


# What compare-drives reads of a `drive --json` file, as a JSON Schema (checked with the `jsonschema`
# package: a well-kept validator whose errors carry the path to the field, which names it for the user).
# Other fields are allowed and ignored. Bounds: autonomy is clamped to 0-100 by construction; a
# million interventions or 1e9 s (31 years) per track is past any drive, and keeps sums exact.
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1_000_000}
DRIVE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tracks"],
    "properties": {
        "tracks": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": list(TRACK_FIELDS),
            "properties": {
                "track": {"type": ["string", "integer"], "maxLength": 200},
                "interventions": _COUNT,
                "elapsed_s": {"type": "number", "minimum": 0, "maximum": 1e9},
                "autonomy_pct": {"type": "number", "minimum": 0, "maximum": 100},
                "interventions_by_cause": {"type": "object", "additionalProperties": _COUNT},
            },
        }},
        "sim": {"type": ["string", "null"]},
        "conditions_text": {"type": ["string", "null"]},
        "seeds_overlap_training": {"type": ["array", "null"], "items": {"type": ["string", "integer"]}},
    },
}


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_drive(path: str | Path) -> dict[str, Any]:
    """One `timesteer drive --json` result, checked against DRIVE_SCHEMA; an error names the file and the
    field (`tracks[3].autonomy_pct`)."""
    import jsonschema

    path = Path(path)
    try:
        result = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except FileNotFoundError:
        raise InputError(path, "no such file (expected the output of `timesteer drive --json`)") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory; expected the output of `timesteer drive --json`") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:  # ValueError: bad JSON, NaN, a 5,000-digit number
        raise InputError(path, f"not a JSON file of `timesteer drive --json` ({str(e).splitlines()[0][:200]})") \
            from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(DRIVE_SCHEMA).iter_errors(result))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            raise InputError(path, f"{where or 'the file'}: lacks {', '.join(missing)} (expected a `timesteer drive "
                                   f"--json` result)")
        shown = json.dumps(error.instance)
        raise InputError(path, f"{where or 'the file'}: expected {_expected(error)}, got "
                               f"{shown if len(shown) <= 40 else shown[:37] + '...'}")
    names = [str(t["track"]) for t in result["tracks"]]
    if len(set(names)) != len(names):
        raise InputError(path, "a track appears twice; expected each track once per drive")
    return result


def _expected(error: Any) -> str:
    """The schema's rule in words: 'a number', 'a value <= 100', 'a list of at least 1 item'."""
    rule = error.validator_value
    words = {"type": lambda: " or ".join(f"{'an' if t[0] in 'aeiou' else 'a'} {t}" for t in
                                          ([rule] if isinstance(rule, str) else rule)),
             "minimum": lambda: f"a value >= {rule:g}", "maximum": lambda: f"a value <= {rule:g}",
             "minItems": lambda: f"at least {rule} item(s)", "maxLength": lambda: f"at most {rule} characters"}
    return words.get(error.validator, lambda: error.message)()


def pool_seeds(drives: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per track, the seeds together: interventions and seconds summed, autonomy the mean of the seeds'."""
    by_track: dict[str, list[dict[str, Any]]] = {}
    for d in drives:
        for t in d["tracks"]:
            by_track.setdefault(str(t["track"]), []).append(t)
    return [{"track": name, "interventions": sum(t["interventions"] for t in ts),
             "elapsed_s": sum(t["elapsed_s"] for t in ts),
             "autonomy_pct": sum(t["autonomy_pct"] for t in ts) / len(ts)} for name, ts in sorted(by_track.items())]


def _same_drives(loaded: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    """Every file must hold the same drives: tracks, conditions and simulator; else the pairing is unfair."""
    first_file, first = next(iter(loaded.values()))[0]
    want_tracks = sorted(str(t["track"]) for t in first["tracks"])
    for files in loaded.values():
        for path, d in files:
            tracks = sorted(str(t["track"]) for t in d["tracks"])
            if tracks != want_tracks:
                extra, lacking = sorted(set(tracks) - set(want_tracks)), sorted(set(want_tracks) - set(tracks))
                raise InputError(path, f"other drives than {first_file}: "
                                       + "; ".join(([f"has {', '.join(extra)}"] if extra else [])
                                                   + ([f"lacks {', '.join(lacking)}"] if lacking else [])))
            for key in ("conditions", "sim"):
                if d.get(key) != first.get(key):
                    raise InputError(path, f"{key} {d.get(key)!r} differ from {first_file}'s {first.get(key)!r}: "
                                           "drivers are compared on the same drives only")


def _seed_figures(path: str, drive: dict[str, Any]) -> dict[str, Any]:
    interventions = sum(t["interventions"] for t in drive["tracks"])
    return {"file": path, "interventions": interventions,
            "autonomy_pct": autonomy_pct(interventions, sum(t["elapsed_s"] for t in drive["tracks"]))}


def compare_drives(cfg: CompareDrivesConfig) -> dict[str, Any]:
    seen: dict[str, str] = {}
    loaded: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, files in cfg.drivers.items():
        for f in files:
            key = str(Path(f).resolve())
            if key in seen:
                raise InputError(f, f"given twice (for {seen[key]!r} and {name!r}); each seed's drive counts once")
            seen[key] = name
        loaded[name] = [(f, read_drive(f)) for f in files]
    _same_drives(loaded)
    baseline = cfg.baseline or next(iter(cfg.drivers))
    pooled = {name: pool_seeds([d for _, d in files]) for name, files in loaded.items()}
    first = next(iter(loaded.values()))[0][1]
    rows = []
    for name, files in loaded.items():
        # Everything from the tracks, not the file's totals: a file's tracks are what is paired.
        causes = sum((Counter(t.get("interventions_by_cause", {})) for _, d in files for t in d["tracks"]), Counter())
        per_seed = [_seed_figures(f, d) for f, d in files]
        total = sum(s["interventions"] for s in per_seed)
        rows.append({
            "driver": name,
            "files": [f for f, _ in files],
            "seeds": len(files),
            **track_interval(pooled[name]),
            "interventions": total,
            "per_seed": per_seed,
            "interventions_by_cause": dict(causes.most_common()),
            "interventions_cause_unknown": total - sum(causes.values()),  # drives made before causes were recorded
            "training_tracks_driven": sorted({str(x) for _, d in files for x in d.get("seeds_overlap_training") or []}),
            "vs_baseline": None if name == baseline else paired(pooled[name], pooled[baseline]),
        })
    return {"baseline": baseline, "conditions_text": first.get("conditions_text"), "sim": first.get("sim"),
            "tracks": len(first["tracks"]), "drivers": rows}


def format_compare_drives(result: dict[str, Any]) -> str:
    base = result["baseline"]
    width = max(14, *(len(r["driver"]) for r in result["drivers"]))  # the driver column fits every name
    lines = [f"{result['sim'] or 'simulator'}, conditions: {result['conditions_text']}; {result['tracks']} drives "
             f"per seed; seeds pooled per drive, 95% intervals over the {result['tracks']} drives",
             f"{'driver':<{width}} {'seeds':>5} {'autonomy (95% CI)':>23} {'per seed (interventions)':<34} "
             f"{'minus ' + base + ' (95% CI)':<30} {'drives better / worse':<10}"]
    for r in result["drivers"]:
        lo, hi = r["autonomy_ci95"]
        per = ", ".join(f"{s['autonomy_pct']:.1f} ({s['interventions']})" for s in r["per_seed"])
        vs, counts = "-", ""
        if r["vs_baseline"] is not None:
            p = r["vs_baseline"]
            lo_d, hi_d = p["autonomy_diff_ci95"]
            vs = f"{p['autonomy_diff_pct']:+.1f} ({lo_d:+.1f} to {hi_d:+.1f})"
            counts = f"{p['tracks_a_better']} / {p['tracks_b_better']}"
        lines.append(f"{r['driver']:<{width}} {r['seeds']:>5} {r['autonomy_pct']:>8.1f}% ({lo:5.1f}-{hi:5.1f}) "
                     f"{per:<34} {vs:<30} {counts}")
    for r in result["drivers"]:
        causes = [f"{n} {c}" for c, n in r["interventions_by_cause"].items()]
        if r["interventions_cause_unknown"]:
            causes.append(f"{r['interventions_cause_unknown']} not recorded")
        if causes:
            lines.append(f"{r['driver']}: interventions: {', '.join(causes)}")
        if r["training_tracks_driven"]:
            lines.append(f"WARNING: {r['driver']} drove tracks it was trained on "
                         f"({', '.join(r['training_tracks_driven'])}): not a held-out test")
    return "\n".join(lines)
