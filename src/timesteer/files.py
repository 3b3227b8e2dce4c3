"""Writing files so that nothing is ever half-written, and locks so two processes never share an output.

- `atomic_write(path)`: a temporary file beside `path`, flushed and fsynced, renamed over it only when
  the whole content is written; on any error (disk full, a signal, a bug) the temporary file goes and
  whatever was at `path` before stays as it was. Import, checkpoints, run.json, export and report all
  write through it.
- `hold(path)`: an exclusive lock on an output (a run directory, a recording being imported). A second
  process asking for it gets one line saying who holds it. The lock is the kernel's (`fcntl.flock`,
  `msvcrt.locking` on Windows): it goes when its process dies, however it dies, so it never goes stale.
  `lock_for(output)` is the one place the lock's path is made: beside the output's real path, so a
  symlink to a run directory and the directory itself share one lock.
- `fresh_directory(dest)`: a directory built aside and swapped in whole; it never replaces a directory
  that holds one of the command's inputs, and sweeps the temporary directories of killed processes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from timesteer.errors import TimesteerError

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success it replaces `path` in one rename."""
    path = Path(path)
    if path.is_dir():
        raise TimesteerError(f"{path}: is a directory; expected a file path")
    if path.exists() and not path.is_file():
        # A device, a FIFO or a socket is never replaced by a regular file (`--onnx /dev/null` as root).
        raise TimesteerError(f"{path}: is a special file (device, FIFO or socket); expected a regular file path")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else "") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """JSON that is JSON: NaN and infinity are refused (write None for a value that is not known)."""
    return write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def lock_for(output: str | Path) -> Path:
    """The lock file guarding `output`: beside its real path (symlinks resolved), so every name of one
    directory takes the same lock."""
    real = Path(output).resolve()
    return real.parent / f".{real.name}.lock"


def temp_sibling(dest: Path, kind: str = "tmp") -> Path:
    """A hidden sibling of `dest` for work in progress, named with this process's id so that a later
    run can tell a killed process's leftovers from a live one's (`sweep_leftovers`)."""
    return dest.parent / f".{dest.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or a number we cannot ask about: leave its files
    return True


def sweep_leftovers(dest: Path) -> list[Path]:
    """Remove the hidden temporary siblings of `dest` (`.NAME.tmp-PID-*`, `.NAME.old-PID-*`) whose process
    no longer exists: what a `kill -9`, the OOM killer or a container stopped hard left behind. Those of
    live processes, and names without a process id, are left alone. Returns what was removed."""
    removed = []
    # An `.old-` sibling is swept only once `dest` exists again: a kill between moving the old directory
    # aside and moving the new one in leaves the old one as the only copy.
    for kind in ("tmp", "old") if dest.exists() else ("tmp",):
        for leftover in dest.parent.glob(f".{glob.escape(dest.name)}.{kind}-*-*"):
            pid = leftover.name[len(f".{dest.name}.{kind}-"):].split("-", 1)[0]
            if pid.isdigit() and pid != str(os.getpid()) and not _alive(int(pid)):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                removed.append(leftover)
    return removed


def refuse_foreign_directory(dest: str | Path, marker: str, what: str) -> None:
    """`dest` may be new, empty, or a directory this command made before (it holds `marker`); a file,
    `''` (the working directory) or a non-empty directory of anything else is refused, so that an output
    is never mixed into someone else's files (`train --out /`)."""
    if not str(dest).strip():
        raise TimesteerError(f"expected a directory path for the {what}, got {str(dest)!r}")
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise TimesteerError(f"{dest}: is a file; expected a directory for the {what}")
    if dest.is_dir() and not (dest / marker).is_file() and any(dest.iterdir()):
        raise TimesteerError(f"{dest}: exists and was not made by timesteer as a {what}; choose a new or empty "
                             f"directory (nothing was changed)")


def refuse_holding_inputs(dest: Path, inputs: tuple[str | Path, ...], what: str) -> None:
    """An output directory that would be replaced must not be, or hold, any input of the command (a run
    copied into the report folder, a recording inside the explanation folder)."""
    dest_r = dest.resolve()
    for given in inputs:
        real = Path(given).resolve()
        if real == dest_r or dest_r in real.parents:
            raise TimesteerError(f"{dest}: holds {given}, an input of this command; writing the {what} there would "
                                 f"delete it; choose another directory (nothing was changed)")


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:4]),
            "since": dt.datetime.now().isoformat(timespec="seconds")}


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def hold(lock_path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock at `lock_path` for the duration; `what` names the guarded output in the
    error a second process gets. The lock file is removed on release."""
    lock_path = Path(lock_path)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            try:
                holder = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
            except (ValueError, OSError):
                holder = {}
            os.close(fd)
            who = (f"process {holder.get('pid', '?')} on {holder.get('host', '?')} (`{holder.get('command', '?')}`, "
                   f"since {holder.get('since', '?')})") if holder else "another process"
            raise TimesteerError(f"{what}: in use by {who}; wait for it to finish or choose another path")
        # The file may have been unlinked by the holder we waited for; lock the file that is there now.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder()).encode("utf-8"))
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(fd)


@contextlib.contextmanager
def fresh_directory(dest: str | Path, marker: str, what: str,
                    inputs: tuple[str | Path, ...] = ()) -> Iterator[Path]:
    """Build a directory in a hidden temporary sibling; when the block ends without error it takes
    `dest`'s place in one rename. An existing `dest` is replaced only when it holds the file `marker`
    (it was made the same way) and none of `inputs` (the command's runs and recordings); anything else
    there is refused, never deleted. On error or interrupt the temporary directory goes and `dest` is as
    it was; what a killed process left beside `dest` is swept by the next run."""
    dest = Path(dest).absolute()
    refuse_foreign_directory(dest, marker, what)
    refuse_holding_inputs(dest, inputs, what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(dest)
    tmp = temp_sibling(dest)
    tmp.mkdir()
    try:
        (tmp / marker).parent.mkdir(parents=True, exist_ok=True)
        (tmp / marker).write_text(f"made by timesteer as a {what}; rerunning replaces this directory\n")
        yield tmp
        trash = None
        if dest.exists():
            trash = temp_sibling(dest, "old")
            os.replace(dest, trash)
        os.replace(tmp, dest)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def writing(path: str | Path, what: str) -> Iterator[None]:
    """Turn an OSError while writing `what` at `path` (disk full, no permission, a file where a directory
    should be) into one line naming the path. The writers' own clean-up has already run by then."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and Path(str(exc.filename)).name not in str(path) else ""
        raise TimesteerError(f"{path}: could not write the {what}: {reason}{where}") from None
