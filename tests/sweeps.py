"""Running the command line as a user does, in a subprocess, and reading what it recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.processes import kill_until_gone

REPO = Path(__file__).resolve().parents[1]


def local_env() -> dict[str, str]:
    """This environment, but tracking to the sqlite file and on a local Ray."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "LYNX_FAULT", "LYNX_FAULT_DIR"):
        env.pop(name, None)
    return env


def run_cli(*args: str, results: Path, timeout: float = 900, env: dict | None = None):
    """`python -m ablations <args> --results <results>`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "ablations", *args, "--results", str(results)],
        cwd=REPO,
        env=env or local_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def variant_runs(results: Path, sweep: str = "smoke"):
    """(client, the sweep's variant runs) of the sqlite store under `results`."""
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(sweep)
    return client, client.search_runs([experiment.experiment_id], "tags.lynx_role = 'variant'")


def session_processes(sid: int) -> list[int]:
    """Live processes of a session (zombies are dead, only waiting to be reaped)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True).stdout
    rows = (line.split() for line in out.splitlines())
    return [int(pid) for pid, s, stat in rows if int(s) == sid and not stat.startswith("Z")]


def kill_session(sid: int) -> None:
    """SIGKILL every process of the sweep's session (driver, Ray head, workers) and wait."""
    kill_until_gone(lambda: session_processes(sid))
