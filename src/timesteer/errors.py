"""Errors a user can act on: they name the file, the row or frame, and what was expected.

The command line prints a `TimesteerError` as one line and exits with status 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class TimesteerError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class InputError(TimesteerError):
    """Bad input data: a file, row, frame or value that is not what was expected."""

    def __init__(self, path: str | Path | None, message: str, *, row: int | None = None,
                 frame: int | None = None) -> None:
        where = str(path) if path is not None else ""
        if row is not None:
            where += f", line {row}"
        if frame is not None:
            where += f", frame {frame}"
        self.path = path
        self.row = row
        self.frame = frame
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):  # picklable across worker processes
        return (_rebuild_input_error, (self.path, self.message, self.row, self.frame))


def _rebuild_input_error(path, message, row, frame) -> InputError:
    return InputError(path, message, row=row, frame=frame)


class ConfigError(TimesteerError):
    """A configuration key that is unknown or holds a value of the wrong type."""


class ModelFailed(TimesteerError):
    """A model that cannot give a usable answer: weights or outputs that are NaN or infinite (a diverged
    training, an edited checkpoint). Tables that compare models show it as failed."""
