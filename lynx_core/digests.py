"""Cheap fingerprints of files on disk: names, sizes and modification times, not contents.
They change whenever a file is edited, added, removed or replaced, and cost a `stat` per
file, so a stage key or a cache entry can depend on a data set of millions of files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def digest_files(root: Path) -> str:
    """Names, sizes and modification times of every file under `root` (or of `root` itself)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    stats = [(p, p.stat()) for p in files]
    listing = [(str(p.relative_to(root)), st.st_size, st.st_mtime_ns) for p, st in stats]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]


def digest_of(*parts: object) -> str:
    """A key for JSON-able `parts` (settings, paths, file digests)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
