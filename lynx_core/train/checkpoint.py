"""Stage checkpoints: atomic, checksummed, and enough to continue a stage exactly.

A checkpoint holds the step, the trained tensors, the optimizer and schedule states and the
last logged loss. It is written to a temporary file and renamed, with a SHA-256 beside it; a
file whose checksum does not match is ignored (the stage restarts) rather than trusted.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import torch

from lynx_core.atomic import write_bytes, write_text

log = logging.getLogger(__name__)


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    write_bytes(path, data)
    write_text(_checksum_path(path), hashlib.sha256(data).hexdigest())


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it fails its checksum."""
    if not path.exists() or not _checksum_path(path).exists():
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != _checksum_path(path).read_text().strip():
        log.warning("checkpoint %s fails its checksum; starting the stage over", path)
        return None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
