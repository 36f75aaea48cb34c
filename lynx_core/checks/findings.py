"""What every check returns and the bounded file reads they share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lynx_core.config import VariantConfig

MAX_CONFIG_BYTES = 1_000_000  # a model's config.json is a few kB
MAX_BENCHMARK_BYTES = 500_000_000  # Open-VQA and OwlEval files are under 1 MB


@dataclass(frozen=True)
class Finding:
    """A problem with what a config names: the dotted field and what to do."""

    field: str
    message: str


Check = Callable[[VariantConfig], list[Finding]]


def sane_file(path: Path, limit: int = MAX_BENCHMARK_BYTES) -> bool:
    return path.is_file() and path.stat().st_size <= limit


def json_object(path: Path) -> tuple[dict, str | None]:
    """(object, None) or ({}, why not), reading at most `MAX_CONFIG_BYTES`."""
    if not sane_file(path, MAX_CONFIG_BYTES):
        return {}, "is missing (or not a small regular file)"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        return {}, f"cannot be read: {err}"
    return (data, None) if isinstance(data, dict) else ({}, "is not a JSON object")
