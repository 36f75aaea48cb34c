"""Atomic writes: readers see the old file/folder or the complete new one, never a partial one.

A write that fails (a full disk, a refused permission) raises an `OSError` that names the file
it was writing, leaves no temporary file behind and the previous version in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lynx_core.faults import fault_point


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Re-raise an `OSError` with `path` as its file name when it names none (a failed
    `write()` says only 'No space left on device')."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from err


def write_with(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` fills a temporary sibling of `path`, which then replaces `path`."""
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            write(tmp)
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    def fill(tmp: Path) -> None:
        with tmp.open("wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            f.flush()
            fault_point(f"write:{path}", path)  # the fault suite stops or fails us here
            f.write(data[half:])

    write_with(path, fill)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str))


def write_dir(path: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary sibling folder, then rename it to `path` (first finished writer wins)."""
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
        try:
            fill(tmp)
            os.rename(tmp, path)
        except OSError:
            if not path.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
