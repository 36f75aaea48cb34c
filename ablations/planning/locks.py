"""Exclusive file locks between the processes that share one results folder.

`flock` locks belong to an open file, so a process that dies (even by SIGKILL) releases its
locks at once: a killed sweep never leaves a stale lock to clean up by hand. They are held
for: a stage run being computed (`ablations.planning.store.Store.claim`), a sweep being run (two
`make sweep` of one sweep on one results folder take turns), and the MLflow sqlite file being
created (two drivers migrating one new database at once fail inside alembic).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block. When another
    process holds it, `on_wait` is told who (its pid, as that process wrote it) before this
    one blocks until the lock is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                lock.seek(0)
                on_wait(lock.read().strip() or "another process")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
