"""The console script's entry point: a Ctrl-C from the very start is one line, not a traceback.

The `timesteer` script imports this module first; at import it installs a SIGINT handler that says one
line and exits 130, which covers importing the command line and building its parser (the first 0.2 s).
`main` hands SIGINT back to Python's own handler, which `cli.main` turns into clean-ups and one line.
Only the script does this: importing `timesteer.cli` from Python changes no signal handler.
"""

import os
import signal
import sys


def _interrupted_at_start(signum: int, frame: object) -> None:
    sys.stderr.write("timesteer: interrupted (SIGINT) before anything started\n")
    os._exit(128 + signum)


if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the caller ignores SIGINT
    signal.signal(signal.SIGINT, _interrupted_at_start)


def main() -> int:
    from timesteer.cli import main as cli_main

    if signal.getsignal(signal.SIGINT) is _interrupted_at_start:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return cli_main()
