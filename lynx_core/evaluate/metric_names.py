"""How evaluation names become metric names (light: the driver imports it for tables)."""

from __future__ import annotations

import re


def class_key(category: str) -> str:
    """A class name as it may appear in a metric name (MLflow refuses e.g. parentheses):
    'Action(Y/N)' → 'Action_Y_N'."""
    return re.sub(r"[^A-Za-z0-9]+", "_", category).strip("_")
