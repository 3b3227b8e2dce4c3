"""The `timesteer` command line: each subcommand parses its arguments and calls one library function.

Library modules are imported inside each handler so that `timesteer --help` answers at once
(PyTorch takes seconds to import). A `TimesteerError` prints as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from timesteer import __version__
from timesteer.errors import TimesteerError

Handler = Callable[[argparse.Namespace], int | None]
COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def command(name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None]):
    def register(handler: Handler) -> Handler:
        COMMANDS.append((name, help_text, configure, handler))
        return handler

    return register


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
    p.add_argument("--camera", help="udacity-sim: center|left|right|all (default center); udacity: a frame_id")
    p.add_argument("--csv", help="video: the CSV of timestamp_s,steering[,speed] (default: SRC with .csv)")
    p.add_argument("--fps", type=float, help="sully: frame rate when data.txt has no timestamps (default 30)")
    p.add_argument("--steering-unit", choices=["rad", "deg_wheel", "normalized"], help="video: steering unit")
    p.add_argument("--steering-to-rad", type=float, help="video: factor from that unit to radians")
    p.add_argument("--gap", type=float, dest="gap_threshold_s",
                   help="start a new segment at time gaps above this many seconds")
    p.add_argument("--workers", type=int, default=0, help="decoding threads (default: one per CPU)")
    p.add_argument("--overwrite", action="store_true", help="replace DEST if it is a recording")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@command("import", "import a driving recording into a timesteer recording", _import_args)
def _import(args: argparse.Namespace) -> int:
    from timesteer.data import ImportConfig, format_info, import_recording, recording_info
    from timesteer.data.imaging import parse_crop, parse_size

    config = ImportConfig(
        format=args.format, src=args.src, dest=args.dest, size=parse_size(args.size), crop=parse_crop(args.crop),
        camera=args.camera, overwrite=args.overwrite, gap_threshold_s=args.gap_threshold_s, workers=args.workers,
        csv=args.csv, fps=args.fps, steering_unit=args.steering_unit, steering_to_rad=args.steering_to_rad,
        progress=not args.quiet,
    )
    path = import_recording(config)
    print(format_info(recording_info(path)))
    return 0


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("rec", help="recording directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("info", "describe a recording: frames, duration, fps, segments, steering statistics", _info_args)
def _info(args: argparse.Namespace) -> int:
    from timesteer.data import format_info, recording_info

    info = recording_info(args.rec)
    print_json(info) if args.json else print(format_info(info))
    return 0


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timesteer",
        description="Learn to steer a car from its camera, through time.",
    )
    parser.add_argument("--version", action="version", version=f"timesteer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, configure, handler in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except TimesteerError as exc:
        print(f"timesteer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("timesteer: interrupted", file=sys.stderr)
        return 130
