"""The `timesteer` command line: each subcommand parses its arguments and calls one library function.

Library modules are imported inside each handler so that `timesteer --help` answers at once
(PyTorch takes seconds to import). A `TimesteerError` prints as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from timesteer import __version__
from timesteer.errors import TimesteerError

Handler = Callable[[argparse.Namespace], int | None]
COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def command(name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None]):
    def register(handler: Handler) -> Handler:
        COMMANDS.append((name, help_text, configure, handler))
        return handler

    return register


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _quiet_flag(p: argparse.ArgumentParser, **kwargs: Any) -> None:
    p.add_argument("--quiet", **{"action": "store_true", "help": "no progress bars", **kwargs})


def _latency_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="the car's latency (camera to wheel): a model with lead heads steers with the output learned "
                        "for the nearest (default 0: the plain steering)")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, sort_keys=False))


# ---------------------------------------------------------------- import / info
def _import_args(p: argparse.ArgumentParser) -> None:
    from timesteer.data.importers import PARSERS

    p.add_argument("format", choices=list(PARSERS), help="source format")
    p.add_argument("src", help="source: a folder, log or video (see README for each format)")
    p.add_argument("dest", help="new recording directory")
    p.add_argument("--size", metavar="HxW", help="store frames at this size, e.g. 66x200 (default: source size)")
    p.add_argument("--crop", metavar="T,B", help="rows to cut from the top and bottom, in source pixels")
    p.add_argument("--camera", help="udacity-sim: center|left|right|all (default center); udacity: a frame_id; "
                   "lerobot: a video feature (when there are several)")
    p.add_argument("--steering", metavar="FIELD", help="lerobot: the field that holds steering, e.g. action.steering "
                   "(when no single field names it)")
    p.add_argument("--csv", help="video: the CSV of timestamp_s,steering[,speed] (default: SRC with .csv)")
    p.add_argument("--fps", type=float, help="frame rate of the recording: resample to it (frames are dropped, never "
                   "invented); a sully log without timestamps is taken to run at it (default 30)")
    p.add_argument("--steering-unit", choices=["rad", "deg_wheel", "normalized"], help="video: steering unit")
    p.add_argument("--steering-to-rad", type=float, help="video: factor from that unit to radians")
    p.add_argument("--steering-kind", choices=["wheel_angle", "turn_rate"], help="video, lerobot: what the steering "
                   "sets (a turn rate: a differential drive's yaw command); models that use time then measure their "
                   "motion against the distance travelled or the time")
    p.add_argument("--gap", type=float, dest="gap_threshold_s",
                   help="start a new segment at time gaps above this many seconds")
    p.add_argument("--workers", type=int, default=0, help="decoding threads (default: one per CPU)")
    p.add_argument("--overwrite", action="store_true", help="replace DEST if it is a recording")
    p.add_argument("--store", choices=["npy", "video"], default="npy", help="frames raw and memory-mapped (npy, "
                   "default) or as an all-intra H.264 MP4 per camera, about 12x smaller (video)")
    p.add_argument("--strict", action="store_true", help="refuse the first broken record (missing or undecodable "
                   "image, NaN or out-of-range steering) instead of skipping it")
    _quiet_flag(p)


@command("import", "import a driving recording into a timesteer recording", _import_args)
def _import(args: argparse.Namespace) -> int:
    from timesteer.data import ImportConfig, format_info, import_recording, recording_info
    from timesteer.data.imaging import parse_crop, parse_size

    config = ImportConfig(
        format=args.format, src=args.src, dest=args.dest, size=parse_size(args.size), crop=parse_crop(args.crop),
        camera=args.camera, overwrite=args.overwrite, gap_threshold_s=args.gap_threshold_s, workers=args.workers,
        csv=args.csv, fps=args.fps, steering_unit=args.steering_unit, steering_to_rad=args.steering_to_rad,
        steering_kind=args.steering_kind,
        progress=not args.quiet, strict=args.strict, store=args.store, steering=args.steering,
    )
    path = import_recording(config)
    print(format_info(recording_info(path)))  # with a `skipped` line when records were skipped
    return 0


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("rec", help="recording directory")
    p.add_argument("dest", help="new dataset directory (or one convert made before, which it replaces)")
    p.add_argument("--to", choices=["lerobot"], default="lerobot", help="lerobot: a LeRobot v3.0 dataset folder, "
                   "the only target so far")
    _quiet_flag(p)


@command("convert", "write a recording in another format: a LeRobot dataset folder", _convert_args)
def _convert(args: argparse.Namespace) -> int:
    from timesteer.data.lerobot_export import ConvertConfig, convert_recording

    path = convert_recording(ConvertConfig(rec=args.rec, dest=args.dest, to=args.to, progress=not args.quiet))
    print(f"wrote {path} (LeRobot dataset, v3.0)")
    return 0


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("rec", help="recording directory")
    _json_flag(p)


@command("info", "describe a recording: frames, duration, fps, segments, steering statistics", _info_args)
def _info(args: argparse.Namespace) -> int:
    from timesteer.data import format_info, recording_info

    info = recording_info(args.rec)
    print_json(info) if args.json else print(format_info(info))
    return 0


# ---------------------------------------------------------------- models / train
def _models_args(p: argparse.ArgumentParser) -> None:
    _json_flag(p)


@command("models", "list the registered models and their options", _models_args)
def _models(args: argparse.Namespace) -> int:
    from timesteer.config import to_dict
    from timesteer.models import describe_models, model_config

    info = {name: {"description": text, "config": to_dict(model_config(name))}
            for name, text in describe_models().items()}
    if args.json:
        print_json(info)
    else:
        for name, item in info.items():
            options = ", ".join(f"{k}={v}" for k, v in item["config"].items())
            print(f"{name:12s} {item['description']}\n{'':12s} options: {options or '-'}")
        print("None: settled when training starts, from the recordings (motion_per_*: per distance for a wheel angle "
              "with the speed recorded, per second for a turn rate; see the guide)")
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", metavar="REC",
                   help="recordings to train on: recording directories, directories of recordings, or dataset "
                        "files (.json/.toml with optional weights and validation fractions)")
    p.add_argument("--val", nargs="+", metavar="REC",
                   help="separate validation recordings (default: the last --val-fraction of each --data recording)")
    p.add_argument("--val-fraction", type=float, help="fraction of each recording held out for validation")
    p.add_argument("--val-split", choices=["end", "blocks"], help="hold out the end of the drive, or of each block")
    p.add_argument("--val-blocks", type=int, help="number of time blocks with --val-split blocks")
    p.add_argument("--model", help="registered model name (see `timesteer models`)")
    p.add_argument("--model-config", type=json.loads, help='model options as JSON, e.g. \'{"hidden": 32}\'')
    p.add_argument("--out", help="run directory (checkpoints, metrics.csv, TensorBoard logs)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its last checkpoint")
    p.add_argument("--init", metavar="RUN", help="start from this run's best weights and normalisation (warm start)")
    p.add_argument("--epochs", type=int, help="passes over the training data (with --resume: the total to reach)")
    p.add_argument("--batch-frames", type=int, help="frames per optimisation step, lanes x seq-len")
    p.add_argument("--seq-len", type=int,
                   help="frames per chunk = truncated-BPTT length (default: 16 for models with state, else 1)")
    p.add_argument("--stateful", action=argparse.BooleanOptionalAction,
                   help="carry state between batches (default: on for recurrent models)")
    p.add_argument("--burn-in", type=int, help="stateless windows: leading frames without loss")
    p.add_argument("--lr", type=float, help="peak learning rate (AdamW, warm-up then cosine)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay")
    p.add_argument("--grad-clip", type=float, help="gradient-norm clipping")
    p.add_argument("--patience", type=int, help="early stopping after this many epochs without improvement (0: off)")
    p.add_argument("--aux-weight", type=float, help="loss weight of auxiliary targets such as speed")
    p.add_argument("--keyframe-weight", type=float, help="frames where the steering changes count more in the "
                   "loss: 1 + this x (change / its mean) (0: all alike)")
    p.add_argument("--label-lead-s", type=float, help="learn to steer for this many seconds ahead (the car's "
                   "latency): each frame's label is the one recorded that long after it (0: its own)")
    p.add_argument("--lead-heads-s", type=_seconds_list, metavar="S,S,...",
                   help="also learn the steering for cars whose commands act this long after the picture, one "
                        "output each, e.g. 0.05,0.1,0.15,0.2; `drive`, `serve` and `export` steer with the one "
                        "nearest their --latency-ms (default: 0.1 for diffnet and cnn_gru on recordings made without "
                        "latency, else none; '' for none)")
    p.add_argument("--augment", type=json.loads, help='augmentation options as JSON, e.g. \'{"flip": 0}\'; '
                   "by default models that use time get pushes where the recording allows, and cnn_gru time warp on "
                   "clean driving "
                   '(\'{"push_rate_hz": 0, "time_warp": 0}\' turns both off)')
    p.add_argument("--camera", help="primary camera (default: the recording's first)")
    p.add_argument("--side-offset", type=float,
                   help="steering offset of side cameras, in the recording's unit (default: 5 degrees)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="where to train")
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="no mixed precision on CUDA (default: mixed precision on)")
    p.add_argument("--seed", type=int, help="everything random derives from it")
    p.add_argument("--threads", type=int, help="torch compute threads (0: torch's default)")
    p.add_argument("--max-steps-per-epoch", type=int, help="cap the optimisation steps of an epoch")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", default=None,
                   help="no TensorBoard logs (default: written to RUN/tensorboard)")
    _quiet_flag(p, dest="progress", action="store_false", default=None)
    p.add_argument("--grad-through-time", action="store_true", default=None,
                   help="measure how the gradient reaches back through the recurrence (a few batches an epoch)")



def _seconds_list(text: str) -> tuple[float, ...]:
    """'0.05,0.1' -> (0.05, 0.1); '' -> ()."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds separated by commas, e.g. 0.05,0.1; got {text!r}") from None


@command("train", "train a steering model (also under torchrun for many processes)", _train_args)
def _train(args: argparse.Namespace) -> int:
    from timesteer.config import from_dict, to_dict
    from timesteer.errors import ConfigError
    from timesteer.train import TrainConfig, load_run_config, train

    # Every TrainConfig field the command line has an option for (its dest is the field's name).
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name, None) is not None}
    if args.resume:
        # Resume in the directory given (a moved or copied run trains where it now is).
        base = to_dict(load_run_config(args.resume))
        extra = set(given) - {"epochs", "progress", "tensorboard", "device", "threads", "patience"}
        if extra:
            raise ConfigError(f"--resume continues a run as configured; only --epochs, --patience, --device, "
                              f"--threads and --quiet may change (got --{sorted(extra)[0].replace('_', '-')})")
        config = from_dict(TrainConfig, {**base, **given, "out": args.resume}, where="train")
    else:
        missing = [k for k in ("data", "out") if k not in given]
        if missing:
            raise ConfigError(f"--{missing[0]} is required (or --resume RUN)")
        config = from_dict(TrainConfig, given, where="train")
    result = train(config, resume=bool(args.resume))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 speaks
        best = f"{result.best_val_rmse:.4f}" if result.best_val_rmse != float("inf") else "n/a"
        print(f"run {result.run_dir}: {result.epochs_done} epochs, best val RMSE {best} at epoch "
              f"{result.best_epoch + 1}")
    return 0


# ---------------------------------------------------------------- eval / compare / report
def _common_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+", metavar="REC",
                   help="recordings to evaluate on (a row each and the frame-weighted total)")
    p.add_argument("--split", choices=["val", "all"], default="val",
                   help="val: the run's validation block of this recording; all: every frame")
    p.add_argument("--min-speed", type=float, help="leave out frames slower than this (recording's speed unit)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="best: the epoch with the lowest validation RMSE; last: the latest")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="where to run the model")


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory made by `timesteer train`")
    _common_eval_args(p)
    _json_flag(p)


@command("eval", "open-loop metrics of a run on a recording (time order, state carried)", _eval_args)
def _eval(args: argparse.Namespace) -> int:
    from timesteer.evaluate import EvalConfig, evaluate, format_evaluation

    ev = evaluate(EvalConfig(run=args.run, data=args.data, split=args.split, min_speed=args.min_speed,
                             checkpoint=args.checkpoint, device=args.device))
    print_json(ev.summary()) if args.json else print(format_evaluation(ev))
    return 0


def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run directories")
    _common_eval_args(p)
    _json_flag(p)


@command("compare", "compare runs on the same frames: one table, best first", _compare_args)
def _compare(args: argparse.Namespace) -> int:
    from timesteer.evaluate import CompareConfig, compare, markdown_table

    table = compare(CompareConfig(runs=args.runs, data=args.data, split=args.split, min_speed=args.min_speed,
                                  checkpoint=args.checkpoint, device=args.device))
    print_json(table) if args.json else print(markdown_table(table))
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory made by `timesteer train`")
    _common_eval_args(p)
    p.add_argument("--out", required=True, help="report directory (index.html, plots, drive.mp4)")
    p.add_argument("--no-video", dest="video", action="store_false", help="no two-wheel video (faster)")
    p.add_argument("--video-seconds", type=float, default=120.0, help="longest video to render")
    p.add_argument("--no-explain", dest="explain", action="store_false",
                   help="leave out the section 'How far back it looks, and where' (it takes about a minute)")
    _quiet_flag(p)


@command("report", "write plots, a two-wheel video and a self-contained index.html", _report_args)
def _report(args: argparse.Namespace) -> int:
    from timesteer.evaluate import ReportConfig, report

    page = report(ReportConfig(run=args.run, data=args.data, out=args.out, split=args.split,
                               min_speed=args.min_speed, checkpoint=args.checkpoint, device=args.device,
                               video=args.video, video_seconds=args.video_seconds, explain=args.explain,
                               progress=not args.quiet))
    print(f"report: {page}")
    return 0


def _explain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory made by `timesteer train`")
    p.add_argument("--data", required=True, help="recording to explain on")
    p.add_argument("--out", required=True, help="directory for explain.json, the figures and the video")
    p.add_argument("--split", choices=["val", "all"], default="val",
                   help="val: the run's validation block of this recording; all: every frame")
    p.add_argument("--max-lag", type=float, default=3.0, help="how far back to measure, in seconds")
    p.add_argument("--video-seconds", type=float, default=30.0, help="longest VisualBackProp video")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint to explain")
    _json_flag(p)
    _quiet_flag(p)


@command("explain", "see through time: how far back a model looks, where in the frame, what its gates do",
         _explain_args)
def _explain(args: argparse.Namespace) -> int:
    from timesteer.evaluate.explain import ExplainConfig, explain, format_explain

    summary = explain(ExplainConfig(run=args.run, data=args.data, out=args.out, split=args.split,
                                    max_lag_s=args.max_lag, video_seconds=args.video_seconds,
                                    checkpoint=args.checkpoint, progress=not args.quiet))
    print_json(summary) if args.json else print(format_explain(summary))
    return 0


# ---------------------------------------------------------------- simulator
def _conditions_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("driving conditions (drawn from each track's seed: every driver meets the same events)")
    g.add_argument("--conditions", choices=["clean", "noisy", "hard"],
                   help="a named set (README, 'Driving conditions'); the options below change single values "
                        "(default: clean)")
    g.add_argument("--noise", type=float, help="steering disturbances, as a fraction of full lock (hard: 0.6)")
    g.add_argument("--latency-ms", type=float,
                   help="a command acts this long after the frame it was computed from (hard: 100)")
    g.add_argument("--drop-frames", type=float,
                   help="probability that a camera frame is lost, in bursts; the driver gets the last one again "
                        "(hard: 0.1)")
    g.add_argument("--speed-scale", type=float, help="the speed plan's set speeds times this (hard: 1.2)")


def _sim_args(p: argparse.ArgumentParser, default_text: str) -> None:
    from timesteer.sim import simulator_names

    p.add_argument("--sim", choices=simulator_names(), help=f"the simulator ({default_text})")
    p.add_argument("--maps", type=lambda t: [m.strip() for m in t.split(",") if m.strip()],
                   help="Duckietown maps, comma separated, each driven with every seed (default: loop_empty)")


def _length_args(p: argparse.ArgumentParser, per: str) -> None:
    """How long each drive lasts: the same two options for record-sim, drive and dagger."""
    p.add_argument("--laps", type=float, default=1.0, help=f"laps {per} (fractions allowed)")
    p.add_argument("--max-seconds", type=float, default=150.0,
                   help=f"simulated seconds {per} at most (Duckietown's maps have no lap to end a drive)")


def _conditions(args: argparse.Namespace):
    from timesteer.sim import conditions_from

    return conditions_from(args.conditions, noise=args.noise, latency_ms=args.latency_ms,
                           drop_frames=args.drop_frames, speed_scale=args.speed_scale)


def _record_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", required=True, help="CarRacing track seeds, e.g. 1-8 or 1,4,9")
    p.add_argument("--out", required=True, help="new recording directory")
    _length_args(p, "per track")
    p.add_argument("--frame-skip", type=int,
                   help="physics steps per frame (default: CarRacing 2, 50 Hz / 2 = 25 fps; Duckietown 1, 30 fps)")
    p.add_argument("--size", metavar="HxW", help="working frame size (default: the 84x96 cropped observation)")
    p.add_argument("--workers", type=int, default=0, help="parallel episodes (0: one per CPU)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it is a recording")
    p.add_argument("--store", choices=["npy", "video"], default="npy",
                   help="frames raw and memory-mapped (npy) or as an all-intra H.264 MP4 (video), as `import`")
    _quiet_flag(p)
    _sim_args(p, "default: carracing")
    _conditions_args(p)


@command("record-sim", "drive the expert on CarRacing tracks and record it", _record_args)
def _record_sim(args: argparse.Namespace) -> int:
    from timesteer.data import format_info, recording_info
    from timesteer.data.imaging import parse_size
    from timesteer.sim import RecordConfig, parse_seeds, record_sim

    path = record_sim(RecordConfig(seeds=parse_seeds(args.seeds), out=args.out, laps=args.laps,
                                   conditions=_conditions(args), frame_skip=args.frame_skip,
                                   sim=args.sim or "carracing", maps=args.maps, max_seconds=args.max_seconds,
                                   size=parse_size(args.size), workers=args.workers, overwrite=args.overwrite,
                                   store=args.store, progress=not args.quiet))
    print(format_info(recording_info(path)))
    return 0


def _drive_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory made by `timesteer train`, or `expert`")
    p.add_argument("--seeds", required=True,
                   help="track seeds to drive, e.g. 1001-1020 (Duckietown: each map with each seed)")
    _length_args(p, "per track")
    p.add_argument("--video", metavar="DIR", help="write an MP4 of each drive here")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint drives")
    p.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default="torch",
                   help="run the model in PyTorch, or exported to ONNX Runtime (onnx-int8: int8 convolutions, "
                        "calibrated on the run's recording)")
    p.add_argument("--workers", type=int, default=0, help="parallel tracks (0: one per CPU)")
    _json_flag(p)
    _quiet_flag(p)
    _sim_args(p, "default: the one the run was trained on; for the expert, carracing")
    _conditions_args(p)


@command("drive", "drive CarRacing or Duckietown closed-loop with a model; autonomy as NVIDIA measured it",
         _drive_args)
def _drive(args: argparse.Namespace) -> int:
    from timesteer.sim import DriveConfig, drive, format_drive, parse_seeds

    result = drive(DriveConfig(run=args.run, seeds=parse_seeds(args.seeds), laps=args.laps,
                               max_seconds=args.max_seconds, conditions=_conditions(args), video_dir=args.video,
                               sim=args.sim, maps=args.maps,
                               checkpoint=args.checkpoint, backend=args.backend, workers=args.workers,
                               progress=not args.quiet))
    print_json(result) if args.json else print(format_drive(result))
    return 0


def _compare_drives_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("drivers", nargs="+", metavar="NAME=FILE[,FILE...]",
                   help="a driver and its `drive --json` files, one per training seed, e.g. "
                        "pilotnet=p0.json,p1.json,p2.json (a bare FILE is a driver of one seed, named after it)")
    p.add_argument("--baseline", help="the driver the others are paired against (default: the first)")
    _json_flag(p)


@command("compare-drives", "closed-loop results of drivers over seeds side by side, each paired against a "
         "baseline on the same drives", _compare_drives_args)
def _compare_drives(args: argparse.Namespace) -> int:
    from timesteer.sim.compare_drives import CompareDrivesConfig, compare_drives, format_compare_drives, parse_drivers

    result = compare_drives(CompareDrivesConfig(drivers=parse_drivers(args.drivers), baseline=args.baseline))
    print_json(result) if args.json else print(format_compare_drives(result))
    return 0


def _dagger_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+", metavar="REC",
                   help="the expert's recordings to start from (e.g. from record-sim)")
    p.add_argument("--seeds", required=True, help="training tracks the learner drives, e.g. 1-8")
    p.add_argument("--out", required=True, help="DAgger directory (every iteration's drives and run are kept)")
    p.add_argument("--model", default="cnn_gru", help="registered model name")
    p.add_argument("--model-config", type=json.loads, default={}, help="model options as JSON")
    p.add_argument("--iterations", type=int, default=4,
                   help="DAgger iterations after behaviour cloning (again with more: a finished run goes on)")
    p.add_argument("--start", metavar="RUN", dest="start_run",
                   help="a run already trained on --data to start from, instead of training iteration 0")
    p.add_argument("--beta", type=float, default=0.5, help="share of frames the expert takes over in iteration 1")
    p.add_argument("--beta-decay", type=float, default=0.5, help="beta_i = beta * decay^(i-1)")
    p.add_argument("--epochs", type=int, default=12, help="epochs of iteration 0 (behaviour cloning)")
    p.add_argument("--epochs-per-iteration", type=int, default=6, help="epochs of each later iteration")
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="train each iteration from scratch instead of from the previous weights")
    _length_args(p, "per track and iteration")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--train", type=json.loads, default={},
                   help='other training options as JSON, e.g. \'{"lr": 0.002, "threads": 2}\'')
    p.add_argument("--workers", type=int, default=0, help="parallel tracks (0: one per CPU)")
    _quiet_flag(p)
    _sim_args(p, "default: carracing")
    _conditions_args(p)


@command("dagger", "learn from its own mistakes: the model drives, the expert labels, train again (DAgger)",
         _dagger_args)
def _dagger(args: argparse.Namespace) -> int:
    from timesteer.sim import DaggerConfig, dagger, parse_seeds

    # Every DaggerConfig field with an option of its name, then the few that are parsed or named otherwise.
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(DaggerConfig) if hasattr(args, f.name)}
    state = dagger(DaggerConfig(**{**given, "seeds": parse_seeds(args.seeds), "conditions": _conditions(args),
                                   "sim": args.sim or "carracing", "progress": not args.quiet}))
    print(f"final model: {state['final']}")
    for row in state["iterations"]:
        print(f"iteration {row['iteration']}: beta {row['beta']:.3f}, autonomy on the training tracks "
              f"{row['training_autonomy_pct']:.1f}% ({row['interventions']} interventions)")
    return 0


# ---------------------------------------------------------------- live: export / bench / serve
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory made by `timesteer train`")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint to export")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (13 to 20)")
    p.add_argument("--int8", action="store_true",
                   help="int8 convolutions (faster on CPUs with int8 dot products), calibrated on real frames and "
                        "checked against the float step")
    p.add_argument("--calibrate", metavar="REC",
                   help="recording whose frames calibrate --int8 (default: the run's training recording)")
    _latency_flag(p)


@command("export", "export one streaming step (frame + state in, steering + state out) to ONNX", _export_args)
def _export(args: argparse.Namespace) -> int:
    from timesteer.stream.export import ExportConfig, export_onnx, read_metadata

    path = export_onnx(ExportConfig(run=args.run, onnx=args.onnx, checkpoint=args.checkpoint, opset=args.opset,
                                    int8=args.int8, calibrate=args.calibrate, latency_ms=args.latency_ms))
    meta = read_metadata(path)
    print(f"wrote {path}\npreprocessing: {meta['timesteer.preprocessing']}\nstate: {meta['timesteer.state']}")
    if "timesteer.distance_ref" in meta:  # motion measured per distance or per second: not all zeros to start
        at = json.loads(meta["timesteer.state"])["distance_input"]
        told = "the seconds since the last frame" if meta.get("timesteer.distance_per") == "second" else \
            "the speed (in the training recording's unit) x the seconds since the last frame"
        print(f"motion per {meta.get('timesteer.distance_per', 'distance')}: state_{at} starts at "
              f"{float(meta['timesteer.distance_ref']):.6g} (the training's), not 0; write {told} into it before "
              f"each frame (Steerer.from_onnx does both)")
    lead = json.loads(meta.get("timesteer.steer_lead_s", "null"))
    if lead is not None:
        print(f"steering: the output learned for {lead * 1000:.0f} ms of latency (--latency-ms picks it)")
    if "timesteer.int8" in meta:
        check = json.loads(meta["timesteer.int8"])
        print(f"int8 convolutions: steering RMSE {check['rmse_vs_float']:.5f} from the float step over "
              f"{check['check_frames']} frames (max {check['max_abs_vs_float']:.5f})")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["stream"], help="what to measure")
    p.add_argument("run", help="run directory")
    p.add_argument("--frames", type=int, default=300, help="frames timed per way of stepping")
    p.add_argument("--window", type=int, default=10, help="frames re-run per step, the donkeycar way")
    p.add_argument("--threads", type=int, default=2, help="compute threads (PyTorch and ONNX Runtime)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the PyTorch ways run (ONNX Runtime runs on the CPU)")
    _json_flag(p)
    _quiet_flag(p)


@command("bench", "measure live steering: ms per frame, carried state vs re-running a window", _bench_args)
def _bench(args: argparse.Namespace) -> int:
    from timesteer.stream.bench import StreamBenchConfig, bench_stream, format_bench

    result = bench_stream(StreamBenchConfig(run=args.run, frames=args.frames, window=args.window,
                                            threads=args.threads, device=args.device,
                                            progress=not (args.quiet or args.json)))
    print_json(result) if args.json else print(format_bench(result))
    return 0


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory trained on Udacity simulator frames, or its exported .onnx file")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 when the simulator runs on another machine")
    p.add_argument("--port", type=int, default=4567, help="the simulator connects to 4567")
    p.add_argument("--speed", type=float, default=15.0, help="set speed for the throttle controller (sim mph)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint drives")
    p.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default="torch",
                   help="run the model in PyTorch, or exported to ONNX Runtime (onnx-int8: int8 convolutions, "
                        "calibrated on the run's recording)")
    p.add_argument("--threads", type=int, default=0, help="compute threads (0: the library's default)")
    _latency_flag(p)


@command("serve", "Socket.IO drive server for the Udacity self-driving car simulator", _serve_args)
def _serve(args: argparse.Namespace) -> int:
    from timesteer.stream.server import ServeConfig, serve

    serve(ServeConfig(run=args.run, host=args.host, port=args.port, set_speed=args.speed,
                      checkpoint=args.checkpoint, backend=args.backend, threads=args.threads,
                      latency_ms=args.latency_ms))
    return 0


# ---------------------------------------------------------------- demo
def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="timesteer-demo", help="demo directory (replaced on each run)")
    p.add_argument("--quick", action="store_true", help="fewer tracks and epochs: a few minutes")
    p.add_argument("--conditions", choices=["clean", "noisy", "hard"], default="hard",
                   help="the driving conditions of the training drives and the test drives")
    p.add_argument("--epochs", type=int, help="training epochs per model (default: 12, or 4 with --quick)")
    p.add_argument("--dagger", type=int, default=0, dest="dagger_iterations",
                   help="DAgger iterations after behaviour cloning (0: none)")
    p.add_argument("--workers", type=int, default=0, help="parallel simulator processes (0: one per CPU)")
    _quiet_flag(p)


@command("demo", "the whole loop on simulator data: record the expert, train pilotnet and cnn_gru, drive them "
                 "under hard conditions, report", _demo_args)
def _demo(args: argparse.Namespace) -> int:
    from timesteer.demo import DemoConfig, run_demo

    page = run_demo(DemoConfig(out=args.out, quick=args.quick, conditions=args.conditions, epochs=args.epochs,
                               dagger_iterations=args.dagger_iterations, workers=args.workers,
                               progress=not args.quiet))
    print(f"report: {page.absolute()}")
    return 0


# ---------------------------------------------------------------- entry point
class HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default: argparse's own, or (for options whose absence means
    'the typed config decides', such as train's) the config's, stamped on the action as `config_default`."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.help == argparse.SUPPRESS or not action.option_strings:
            return text
        default = getattr(action, "config_default", action.default)
        if default is None or default is argparse.SUPPRESS or isinstance(default, bool) or default == {}:
            return text
        return f"{text} (default: {default})"


def _stamp_config_defaults(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Show the config dataclass's defaults in the help of options that default to None here."""

    defaults = {f.name: f.default for f in dataclasses.fields(config_cls) if f.default is not dataclasses.MISSING}
    for action in parser._actions:
        if action.default is None and action.dest in defaults and defaults[action.dest] is not None:
            action.config_default = defaults[action.dest]  # type: ignore[attr-defined]


class UsageError(Exception):
    """A command line argparse cannot parse: said in one line, not argparse's usage block."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line that points at `--help` (its subcommands inherit it)."""

    def error(self, message: str) -> NoReturn:
        name = self.prog.removeprefix("timesteer").strip()
        raise UsageError(f"{name + ': ' if name else ''}{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="timesteer",
        description="Learn to steer a car from its camera, through time.",
    )
    parser.add_argument("--version", action="version", version=f"timesteer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, configure, handler in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpWithDefaults)
        configure(p)
        p.set_defaults(handler=handler, parser=p)
        if name == "train":
            from timesteer.train.config import TrainConfig

            _stamp_config_defaults(p, TrainConfig)
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so that every writer cleans up as after Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _name_option(exc: TimesteerError, parser: argparse.ArgumentParser) -> str:
    """A config error names a field (`gap_threshold_s: expected ...`); on the command line, say the
    option the user typed (`--gap: expected ...`)."""
    from timesteer.errors import ConfigError

    text = str(exc)
    if not isinstance(exc, ConfigError) or ":" not in text:
        return text
    key, rest = text.split(":", 1)
    field = key.removeprefix("train.").split("[")[0]
    # A field may carry its unit where the option does not (`max_lag_s` is `--max-lag`).
    names = {field, *(field.removesuffix(unit) for unit in ("_s", "_ms", "_m", "_mps", "_rad") if field.endswith(unit))}
    for action in parser._actions:
        if action.dest in names and action.option_strings:
            return f"{action.option_strings[-1]}{key[len(key.split('[')[0]):]}:{rest}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    try:  # building the parser imports the configs: a Ctrl-C may land here too
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"timesteer: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("timesteer: interrupted (SIGINT) before anything started", file=sys.stderr)
        return 128 + int(signal.SIGINT)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, _on_signal)
    try:
        return int(args.handler(args) or 0)
    except TimesteerError as exc:
        print(f"timesteer: error: {_one_line(_name_option(exc, args.parser))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"timesteer: interrupted ({signal.Signals(signum).name}); nothing half-written was left",
              file=sys.stderr)
        return 128 + int(signum)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as exc:  # the environment: a full disk, no permission, a port in use
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"timesteer: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
