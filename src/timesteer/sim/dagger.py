"""`timesteer dagger`: learning from its own mistakes (Ross, Gordon and Bagnell, AISTATS 2011).

Behaviour cloning only ever sees the expert's states, so a learner's small errors take it where it never
learned to act, and errors compound. DAgger lets the learner drive, asks the expert what it should have
done in the states it reached, adds those labelled frames to the data and trains again:

    iteration 0   train on the expert's recording                                   OUT/iter0/run
    iteration i   the iteration i-1 model drives the training tracks under the      OUT/iter{i}/drives
                  chosen conditions, the expert taking over each frame with
                  probability beta_i = beta * decay^(i-1); every frame is labelled
                  with the expert's command for that state
                  train again on everything so far, from iteration i-1's weights    OUT/iter{i}/run

The drives are the learner's own, so a model that uses time learns from its own drifting histories, its
state carried through them in training as in driving. Every stage's output is kept; `OUT/dagger.json`
logs each iteration (beta, autonomy on the training tracks) and lets a killed run resume where it was;
run again with more `iterations` (nothing else changed), a finished run goes on from its last iteration,
since each iteration depends only on those before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from timesteer.config import Epochs, Fraction, Laps, Range, Seconds, Seed, Workers, to_dict, validate
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.files import hold, lock_for, refuse_foreign_directory, write_json, writing
from timesteer.sim.conditions import Conditions
from timesteer.sim.episode import autonomy_pct
from timesteer.sim.parallel import parse_seeds
from timesteer.sim.record import RecordConfig, record_sim
from timesteer.train import TrainConfig, train
from timesteer.train.run import read_run_info

STATE_FILE = "dagger.json"


@dataclass
class DaggerConfig:
    data: str | list[str]  # the expert's recordings to start from (as `train --data`)
    seeds: Annotated[list[int], Seed]  # training tracks the learner drives
    out: str  # the DAgger directory
    model: str = "cnn_gru"
    model_config: dict[str, Any] = field(default_factory=dict)
    iterations: Annotated[int, Range(0, 1000)] = 4
    conditions: Conditions = field(default_factory=Conditions)
    sim: str = "carracing"
    maps: list[str] | None = None  # Duckietown maps the learner drives (with every seed)
    beta: Annotated[float, Fraction] = 0.5  # the expert's share of frames in iteration 1
    beta_decay: Annotated[float, Fraction] = 0.5  # beta_i = beta * beta_decay^(i-1)
    epochs: Annotated[int, Epochs] = 12  # iteration 0 (behaviour cloning)
    epochs_per_iteration: Annotated[int, Epochs] = 6  # each later iteration, from the previous weights
    warm_start: bool = True
    laps: Annotated[float, Laps] = 1.0
    max_seconds: Annotated[float, Seconds] = 150.0
    seed: Annotated[int, Seed] = 0
    train: dict[str, Any] = field(default_factory=dict)  # other `TrainConfig` fields (lr, batch_frames, ...)
    start_run: str | None = None  # iteration 0 already trained on `data` (behaviour cloning): start from it
    workers: Annotated[int, Workers] = 0
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)

    def beta_at(self, iteration: int) -> float:
        return self.beta * self.beta_decay ** (iteration - 1) if iteration > 0 else 1.0


def _say(cfg: DaggerConfig, text: str) -> None:
    if cfg.progress:
        print(f"[dagger] {text}", flush=True)


def _train_config(cfg: DaggerConfig, out: Path, data: list[str] | str, epochs: int, init: str | None) -> TrainConfig:
    base = {"val_split": "blocks", "tensorboard": False, **cfg.train}
    return TrainConfig.from_dict({**base, "data": data, "out": str(out), "model": cfg.model,
                                  "model_config": cfg.model_config, "epochs": epochs, "seed": cfg.seed,
                                  "init": init, "progress": cfg.progress}, where="dagger.train")


def _finished(run: Path) -> bool:
    try:
        info = read_run_info(run)
    except TimesteerError:
        return False
    return info.status in ("finished", "early-stopped") and (run / "best.pt").is_file()


def _train_stage(cfg: TrainConfig, run: Path) -> None:
    if _finished(run):
        return
    resume = (run / "last.pt").is_file()
    train(cfg, resume=resume)


def _dataset(cfg: DaggerConfig, out: Path, iteration: int) -> str:
    """The expert's data (validation held out of it, as always) and every drive so far (all for training)."""
    base = [cfg.data] if isinstance(cfg.data, str) else list(cfg.data)
    entries = [{"path": str(Path(p).absolute())} for p in base]
    entries += [{"path": str((out / f"iter{i}" / "drives").absolute()), "val_fraction": 0.0}
                for i in range(1, iteration + 1)]
    path = out / f"iter{iteration}" / "data.json"
    write_json(path, {"recordings": entries})
    return str(path)


def dagger(cfg: DaggerConfig) -> dict[str, Any]:
    out = Path(cfg.out)
    seeds = parse_seeds(cfg.seeds)
    refuse_foreign_directory(out, STATE_FILE, "DAgger directory (--out)")
    with writing(out, "DAgger directory"):
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
    with hold(lock_for(out), str(out)), writing(out, "DAgger directory"):
        out.mkdir(parents=True, exist_ok=True)
        state_path = out / STATE_FILE
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        if state and not _same_run(state.get("config"), _plain(cfg)):
            raise TimesteerError(f"{out}: holds a DAgger run with other settings; choose another --out")
        state = {"config": _plain(cfg), "iterations": state.get("iterations", [])}
        write_json(state_path, state)  # from now on the directory says it is this DAgger run's
        log = {row["iteration"]: row for row in state["iterations"]}

        if cfg.start_run is not None:
            previous = Path(cfg.start_run)
            if not _finished(previous):
                raise TimesteerError(f"{previous}: not a finished training run to start DAgger from")
            _say(cfg, f"iteration 0: {previous} (already trained on the expert's recording)")
        else:
            previous = out / "iter0" / "run"
            (out / "iter0").mkdir(exist_ok=True)
            _say(cfg, f"iteration 0: behaviour cloning on the expert's recording, {cfg.epochs} epochs")
            _train_stage(_train_config(cfg, previous, cfg.data, cfg.epochs, None), previous)
        for i in range(1, cfg.iterations + 1):
            stage = out / f"iter{i}"
            stage.mkdir(exist_ok=True)
            beta = cfg.beta_at(i)
            drives = stage / "drives"
            if not (drives / "manifest.json").is_file():
                _say(cfg, f"iteration {i}: the learner drives tracks {cfg.seeds} ({cfg.conditions.describe()}), "
                          f"the expert taking over {100 * beta:.0f}% of frames")
                record_sim(RecordConfig(seeds=seeds, out=str(drives), laps=cfg.laps, conditions=cfg.conditions,
                                        sim=cfg.sim, maps=cfg.maps, max_seconds=cfg.max_seconds,
                                        workers=cfg.workers, progress=cfg.progress, driver=str(previous),
                                        expert_share=beta, mix_seed=i))
            episodes = Recording.open(drives).manifest.source.details.get("episodes", [])
            interventions = sum(int(e["interventions"]) for e in episodes)
            elapsed = sum(float(e["elapsed_s"]) for e in episodes)
            row = {"iteration": i, "beta": beta, "driver": str(previous), "drives": str(drives),
                   "training_autonomy_pct": autonomy_pct(interventions, elapsed), "interventions": interventions,
                   "elapsed_s": round(elapsed, 2), "frames": Recording.open(drives).manifest.frames}
            _say(cfg, f"iteration {i}: autonomy on the training tracks {row['training_autonomy_pct']:.1f}% "
                      f"({interventions} interventions in {elapsed:.0f} s, learner and expert mixed)")
            run = stage / "run"
            _train_stage(_train_config(cfg, run, _dataset(cfg, out, i), cfg.epochs_per_iteration,
                                       str(previous) if cfg.warm_start else None), run)
            row["run"] = str(run)
            log[i] = row
            state["iterations"] = [log[k] for k in sorted(log)]
            write_json(state_path, state)
            previous = run
        state["final"] = str(previous)
        write_json(state_path, state)
        _say(cfg, f"done: the final model is {previous}")
        return state


def _same_run(stored: dict[str, Any] | None, given: dict[str, Any]) -> bool:
    """Whether `given` settings continue the run `stored` describes: equal but for the number of iterations
    (more iterations go on from the last; fewer stop at that iteration's model, all kept)."""
    if stored is None:
        return False
    return {**stored, "iterations": None} == {**given, "iterations": None}


def _plain(cfg: DaggerConfig) -> dict[str, Any]:
    d = to_dict(cfg)
    d.pop("progress")
    d.pop("workers")
    return d
