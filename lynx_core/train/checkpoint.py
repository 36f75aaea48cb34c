"""Stage checkpoints: atomic, checksummed, two generations, and enough to continue exactly.

A checkpoint holds the step, the trained tensors, the optimizer and schedule states and the
last logged loss. `save_checkpoint(path, state, step)` writes generation `<stem>.<step>.ckpt`
beside `path` (atomically, then its SHA-256 in `.sha256`) and keeps the newest two, so a
process killed while the newest is written, or a newest copy damaged later, still leaves the
one before it: `load_checkpoint` returns the newest generation whose checksum matches and
never unpickles anything else (`torch.load(weights_only=True)`: tensors and plain values).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from pathlib import Path
from typing import Any

import torch

from lynx_core.atomic import write_bytes, write_text
from lynx_core.unpickle import tensors_only

log = logging.getLogger(__name__)
KEEP = 2  # generations kept: the newest, and the last good one if the newest is cut short


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def generation(path: Path, step: int) -> Path:
    """`train.ckpt` at step 10 → `train.00000010.ckpt`."""
    return path.with_name(f"{path.stem}.{step:08d}{path.suffix}")


def generations(path: Path) -> list[tuple[int, Path]]:
    """(step, file) of every generation of `path` on disk, newest first."""
    pattern = re.compile(rf"{re.escape(path.stem)}\.(\d{{8}}){re.escape(path.suffix)}")
    matches = (pattern.fullmatch(p.name) for p in path.parent.glob(f"{path.stem}.*"))
    return sorted(
        ((int(m.group(1)), path.with_name(m.group(0))) for m in matches if m), reverse=True
    )


def save_checkpoint(path: Path, state: dict[str, Any], step: int) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    target = generation(path, step)
    write_bytes(target, data)
    write_text(_checksum_path(target), hashlib.sha256(data).hexdigest())
    for _, old in generations(path)[KEEP:]:
        old.unlink(missing_ok=True)
        _checksum_path(old).unlink(missing_ok=True)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The newest generation's state that passes its checksum; None when there is none."""
    for step, file in generations(path):
        checksum = _checksum_path(file)
        data = file.read_bytes()
        if checksum.exists() and hashlib.sha256(data).hexdigest() == checksum.read_text().strip():
            with tensors_only(file):
                return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        log.warning("checkpoint %s (step %d) fails its checksum; trying an older one", file, step)
    return None


def saved_steps(folder: Path) -> dict[str, int]:
    """Per checkpoint in a stage folder, the step of its newest generation that has a checksum
    (not re-verified): what a resumed attempt will start from, for the store's audit trail."""
    steps: dict[str, int] = {}
    for checksum in folder.glob("*.ckpt.sha256"):
        name, _, step = checksum.name.removesuffix(".ckpt.sha256").rpartition(".")
        if step.isdigit() and not name.startswith("best."):
            steps[name] = max(steps.get(name, 0), int(step))
    for digest in folder.glob("*.ckpt.ds/step*.sha256.json"):  # DeepSpeed's tags
        name = digest.parent.name.removesuffix(".ckpt.ds")
        step = digest.name.removeprefix("step").removesuffix(".sha256.json")
        if step.isdigit():
            steps[name] = max(steps.get(name, 0), int(step))
    return steps
