"""The MLflow UI on a sweep: a link that opens it on its variants, and a server that is lean.

MLflow 3's UI opens an experiment on a GenAI overview of traces unless the link says
otherwise (`workflowType`; a fresh browser defaults to GenAI whatever the experiment's kind),
and lists every seed's run flat, ten of them charted. `variants_url` opens the study's own
view instead (`ablations.tracking.study_view`, stored as an experiment tag): the variants
grouped over their seeds, the study's metrics first, in the chart view. The sweep's
experiment description carries that link, and `make ui` prints it for every sweep in the
store.

`server_command` starts `mlflow ui` with one uvicorn worker and without MLflow's job runner
(its GenAI job consumers would start beside the server for a sqlite store): two processes
instead of about eight.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import quote, urlencode

from ablations.tracking.study_view import study_key


def variants_url(experiment_id: str, base: str = "") -> str:
    """The experiment page on the study's view (`ablations.tracking.study_view`: variants
    grouped over their seeds, the study's metrics charted first), in the chart view and
    the model-training workflow; relative to the UI's root unless `base` (e.g.
    `http://127.0.0.1:5000/`) is given."""
    query = {
        "viewStateShareKey": study_key(),
        "compareRunsMode": "CHART",
        "workflowType": "machine_learning",
    }
    return f"{base}#/experiments/{experiment_id}/runs?{urlencode(query, quote_via=quote)}"


def report_url(experiment_id: str, run_id: str) -> str:
    """The sweep run's artifact `report/index.html` (the report on one page), which MLflow's
    artifact view shows rendered."""
    return f"#/experiments/{experiment_id}/runs/{run_id}/artifacts/report/index.html"


def description(
    experiment: str, source: str, experiment_id: str, report_run: str | None = None
) -> str:
    """The experiment's description (Markdown, shown above its runs and its overview); with
    the link to the report page once `report_run`, the sweep's run, holds it."""
    text = (
        f"**{experiment}**: the variants of `{source}`, recorded by lynx-ablate. "
        f"[Open the variants side by side]({variants_url(experiment_id)}): each variant's run, "
        "its training curves and final metrics charted together. The sweep's tables, plots "
        f"and findings are artifacts of its run `{experiment}` (`report/`)"
    )
    if report_run is None:
        return text + "."
    return text + f"; [open the report]({report_url(experiment_id, report_run)}), all on one page."


def server_command(uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of a lean `mlflow ui` on the tracking store `uri`."""
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job runner, no huey consumers
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    argv = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    return argv, env
