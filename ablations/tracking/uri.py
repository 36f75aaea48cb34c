"""Where a sweep's MLflow runs live, and whether there is a store there yet. Kept light (no
MLflow import) so that the sweep command can start Ray first and import the rest of the
driver while Ray comes up."""

from __future__ import annotations

import os
from pathlib import Path


def tracking_uri(results: Path) -> str:
    """`MLFLOW_TRACKING_URI` when set (a server for clusters), else sqlite under `results`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(results / 'mlflow.db').resolve()}"


def has_store(results: Path) -> bool:
    """Whether there is an MLflow store to read: a server, or a local database that exists
    (opening a missing one would create it, and the results folder with it)."""
    uri = tracking_uri(results)
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()
