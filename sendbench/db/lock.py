"""One refresh at a time per database: a lock file beside it, naming the run that holds it.

``refresh_lock(db_path)`` takes ``<db>.lock`` (``filelock``: an OS lock, so a run that is killed,
even with SIGKILL, frees it). While held, ``<db>.lock.json`` says which process holds it and since
when, so a second run can tell the user what it is waiting for, or refuse at once with
``wait=False``. The lock is re-entrant within a process, so the library's ``refresh`` and the CLI
command around it can both take it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from sendbench.errors import SendbenchError

_held: dict[str, int] = {}  # lock path -> depth, for this process
_guard = threading.Lock()


class RefreshBusy(SendbenchError):
    """Another refresh holds the database and the caller chose not to wait."""


def lock_path(db_path: Path) -> Path:
    return Path(f"{Path(db_path).resolve()}.lock")


def holder(db_path: Path) -> dict | None:
    """What the running refresh wrote about itself (pid, started), or None."""
    try:
        return json.loads(Path(f"{lock_path(db_path)}.json").read_text())
    except (OSError, ValueError):
        return None


def describe(db_path: Path) -> str:
    info = holder(db_path) or {}
    return (
        f"another refresh (pid {info.get('pid', '?')}, started {info.get('started', '?')}) "
        f"is running on {db_path}"
    )


@contextmanager
def refresh_lock(
    db_path: Path | None, *, wait: bool = True, say: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the database's refresh lock for the block (``db_path`` None: an in-memory database)."""
    if db_path is None:
        yield
        return
    path = str(lock_path(db_path))
    with _guard:
        depth = _held.get(path, 0)
        if depth:
            _held[path] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise RefreshBusy(f"{describe(db_path)}; try again when it has finished") from None
        if say:
            say(f"waiting: {describe(db_path)}")
        lock.acquire()
    info = Path(f"{path}.json")
    info.write_text(json.dumps({"pid": os.getpid(), "started": _now()}))
    with _guard:
        _held[path] = 1
    try:
        yield
    finally:
        with _guard:
            _held.pop(path, None)
        info.unlink(missing_ok=True)
        lock.release()


def database_path(conn) -> Path | None:
    """The file behind a sqlite3 connection, or None for an in-memory database."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file) if file else None
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
