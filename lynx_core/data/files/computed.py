"""Arrays computed from a data source once per version of it, kept as .npy files in the
store's cache: a webdataset shard's index, a training file's index, which captions a text
filter keeps, a CLIP model's image–caption scores. At web scale each is minutes to hours of
reading (GPU-hours, for CLIP); without a cache every stage start and every rank would pay it
again.

The caller names the file by what the array depends on (`lynx_core.digests`): the source's
files (names, sizes, modification times), its settings, the code's version. Images a file
only points to (a LLaVA json's folder) are not part of a source's version: replacing them
in place keeps its CLIP scores, as it keeps its stage keys. A lock beside the file makes
the ranks of a node that ask at once compute it once, the others waiting; writes are
atomic, so a killed writer leaves no half file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from filelock import FileLock

from lynx_core.atomic import write_with
from lynx_core.digests import digest_of


def cache_file(cache: Path | None, kind: str, *depends_on: object) -> Path | None:
    """Where an array of `kind` computed from `depends_on` is kept under the store's
    `cache` (None: nowhere)."""
    return None if cache is None else cache / kind / f"{digest_of(kind, *depends_on)}.npy"


def computed_once(
    file: Path | None, compute: Callable[[], np.ndarray], mmap: bool = False
) -> np.ndarray:
    """`compute()`, or the array it gave before (`file`; None: no cache). With `mmap` the
    kept array is memory-mapped read-only: processes reading it share the page cache."""
    if file is None:
        return compute()
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(file.with_suffix(".lock")):
            if not file.exists():  # another process may have computed it meanwhile
                write_with(file, partial(_save, compute()))
    return np.load(file, mmap_mode="r" if mmap else None)


def _save(array: np.ndarray, file: Path) -> None:
    with file.open("wb") as out:
        np.save(out, array)
