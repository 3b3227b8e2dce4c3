"""Writing files so that nothing is ever half-written, and locks so two processes never share an output.

- `atomic_write(path)`: a temporary file beside `path`, flushed and fsynced, renamed over it only when
  the whole content is written; on any error (disk full, a signal, a bug) the temporary file goes and
  whatever was at `path` before stays as it was. Import, checkpoints, run.json, export and report all
  write through it.
- `hold(path)`: an exclusive lock on an output (a run directory, a recording being imported). A second
  process asking for it gets one line saying who holds it. The lock is the kernel's (`fcntl.flock`,
  `msvcrt.locking` on Windows): it goes when its process dies, however it dies, so it never goes stale.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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


def finite_or_none(value: float | None) -> float | None:
    import math

    return value if value is not None and math.isfinite(value) else None


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
def fresh_directory(dest: str | Path, marker: str, what: str) -> Iterator[Path]:
    """Build a directory in a hidden temporary sibling; when the block ends without error it takes
    `dest`'s place in one rename. An existing `dest` is replaced only when it holds the file `marker`
    (it was made the same way); anything else there is refused, never deleted. On error or interrupt
    the temporary directory goes and `dest` is as it was."""
    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise TimesteerError(f"{dest}: is a file; expected a directory for the {what}")
    if dest.exists() and any(dest.iterdir()) and not (dest / marker).is_file():
        raise TimesteerError(f"{dest}: exists and was not made by timesteer as a {what}; choose a new directory "
                             f"(nothing was changed)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / marker).write_text(f"made by timesteer as a {what}; rerunning replaces this directory\n")
        yield tmp
        trash = None
        if dest.exists():
            trash = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
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
