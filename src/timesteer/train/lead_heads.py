"""Lead heads: a model that also learns the steering for a few latencies ahead, and a car that picks the
one for its own latency when it drives.

A command takes effect some time after the frame it was computed from (camera, compute and actuator
delay: `hard`'s 100 ms in the simulators, 50-200 ms on a real car). A model trained on the label of its own
frame steers that late. A label recorded `lead` later (`--label-lead-s`) is in time, and it paid where the
recording was made without that latency (CarRacing, clean driving, `hard`: `diffnet` +7.9 points,
BENCHMARKS.md "Pushes made in the picture"), but the lead must be the car's own, which training does not
know, and on a recording made under latency the labels already lead (the expert counts its commands in
flight): another lead there cost 16 points.

`--lead-heads-s 0.05,0.1,0.15,0.2` gives the model one more output per lead ("steering@0.10s"), each the
label of the frame that lead after its own *less the latency the recording was made under* (its
manifest's `source.details.conditions.latency_ms`; imports that do not say count as 0): every head means
"the command that should act this long after the picture", whatever the recording. The run records the
lead each steering column stands for (`RunData.steer_leads_s`: the recording's own latency for the plain
"steering", then the heads'). Under time warp (`data/timewarp.py`) a head's label is the steering of the
frame the lane is shown that lead later, so the lead holds in the time the model sees (train/batches.py).
Open-loop evaluation reads the plain "steering" (the recorded label); a drive, record-sim's model driver,
`serve`, `export` and `Steerer.from_run(latency_s=...)` pick the column whose lead is nearest the car's
latency (the simulator's `--latency-ms`), as openpilot samples its plan at the car's actuator delay. With
no latency given, the plain "steering" steers, as before.

One head at 0.1 s is the default of `diffnet` and `cnn_gru` (`DEFAULT_LEAD_HEADS_S`; BENCHMARKS.md, "One
lead head"; 3 seeds, CarRacing, trained on clean driving, 20 held-out tracks under `hard`, where the drive
steers with the head): `diffnet` 77.0% -> 82.0%, +4.9 points (paired 95% interval +1.2 to +8.9), and 76.3%
-> 82.3%, +5.7 (+1.2 to +10.3), on a second recording; `cnn_gru` 62.0% -> 70.1%, +7.5 (+1.0 to +13.6);
through Duckietown's dashcam `cnn_gru` 43.5% -> 47.5%, +2.5 (-1.7 to +7.0), level (51.5% since its lead
holds in time warp's shown time, +2.8 over 47.5%, interval +0.2 to +5.8). Four heads (0.05-0.2 s)
had left both level (-0.3 and +2.9, "Lead heads"): with five outputs the plain one's validation error rose
57% for `diffnet`, with two 7-16%. Why 0.1 s: the middle of the latencies cars have (50-200 ms), and the one
`hard` drives with, so measured there; at 150 and 200 ms no model trained on clean driving drives, with the
head or without (it about halves the interventions). Without a latency a drive steers with the plain output,
as before. Where every training recording was made under at least a head's lead (`--conditions hard`
recordings: 100 ms; DAgger's drives) the head is dropped: its label would be the plain one's, so it could
only cost (four heads there: `cnn_gru` -1.7, across zero). Other models: none until measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from timesteer.data.drives import resolve_drives
from timesteer.data.manifest import Manifest, read_manifest
from timesteer.train.checkpoint import checkpoint_field, load_checkpoint
from timesteer.train.config import TrainConfig

PREFIX = "steering@"


def head_name(lead_s: float) -> str:
    return f"{PREFIX}{lead_s:.2f}s"


def is_lead_head(output: str) -> bool:
    return output.startswith(PREFIX)


def recorded_latency_s(manifest: Manifest) -> float:
    """The latency a recording was driven under, as its manifest says (a simulator recording's conditions);
    0 where it does not say (a real car's recording: the driver's hands were not delayed)."""
    return max(0.0, manifest.source.condition("latency_ms")) / 1000.0


def column_for_latency(leads_s: Sequence[float], latency_s: float) -> int:
    """The steering column whose lead is nearest `latency_s` (the plain one on a tie or with no heads)."""
    if not leads_s:
        return 0
    return min(range(len(leads_s)), key=lambda i: (abs(leads_s[i] - latency_s), i))


def _from_checkpoint(path: Path) -> tuple[float, ...]:
    train_config = checkpoint_field(load_checkpoint(path), "train_config", dict, path)
    leads = train_config.get("lead_heads_s")
    return tuple(float(v) for v in leads) if isinstance(leads, list | tuple) else ()


def with_lead_heads_settled(saved: TrainConfig) -> TrainConfig:
    """A checkpoint's training config with None read as what it trained with: training always writes the
    heads down, so None means a checkpoint older than them, which has none."""
    return saved if saved.lead_heads_s is not None else replace(saved, lead_heads_s=())


# The measured defaults, by registered model name (one head, at 0.1 s: see the module's docstring); every
# other model: none.
DEFAULT_LEAD_HEADS_S: dict[str, tuple[float, ...]] = {"diffnet": (0.1,), "cnn_gru": (0.1,)}


def default_lead_heads(model: str) -> tuple[float, ...]:
    """The heads `model` gets by default on recordings made without latency."""
    return DEFAULT_LEAD_HEADS_S.get(model, ())


def with_default_lead_heads(cfg: TrainConfig, resume: bool = False) -> tuple[TrainConfig, str | None]:
    """`cfg` with `lead_heads_s` settled, and what the default chose (a line for the run's first lines; None
    where the user set them, the model has none by default, or the run goes on from weights). A user's
    setting is kept; a resumed run keeps its checkpoint's heads, and one started from `--init RUN` (DAgger's
    rounds) RUN's, none for a checkpoint older than them. Otherwise the model's default heads, less those
    whose lead every recording it trains on (`cfg.data`) already covers with its own latency (there the
    head's label would be the plain one's, or earlier)."""
    if cfg.lead_heads_s is not None:
        return cfg, None
    last = Path(cfg.out) / "last.pt"
    if resume and last.is_file():
        return replace(cfg, lead_heads_s=_from_checkpoint(last)), None
    if cfg.init and (Path(cfg.init) / "best.pt").is_file():  # a missing one is --init's own error, later
        return replace(cfg, lead_heads_s=_from_checkpoint(Path(cfg.init) / "best.pt")), None
    leads = default_lead_heads(cfg.model)
    if not leads:
        return replace(cfg, lead_heads_s=()), None
    # Only the manifests: the recordings themselves are opened once, by the data loading after this.
    covered_s = min((recorded_latency_s(read_manifest(e.path)) for e in resolve_drives(cfg.data_list)), default=0.0)
    kept = tuple(lead for lead in leads if lead > covered_s + 1e-9)
    shown = ",".join(f"{lead:g}" for lead in leads)
    if not kept:
        said = (f"no lead head, since every recording was made under {covered_s * 1000:.0f} ms of latency or more, so "
                f"its labels already lead by that (the default for {cfg.model} is a head for {shown} s on recordings "
                f"made without); --lead-heads-s {shown} asks for it")
    else:
        said = (f"a lead head for {', '.join(f'{lead:g}' for lead in kept)} s (the steering that should act that "
                f"long after the picture; a car with about that latency steers with it), the default for "
                f"{cfg.model}; --lead-heads-s '' turns it off")
    return replace(cfg, lead_heads_s=kept), said
