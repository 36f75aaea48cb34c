"""The MLflow UI on a sweep: a link that opens it on its variants, and a server that is lean.

MLflow 3's UI opens an experiment on a GenAI overview of traces unless the link says
otherwise (`workflowType`; a fresh browser defaults to GenAI whatever the experiment's kind),
and nests the variant runs under their collapsed sweep run, so its chart view has nothing to
draw. `variants_url` asks for the variant runs only (`searchFilter`), sorted by a metric (which
also lists them flat instead of nested), in the chart view: every variant's curves and final
metrics side by side. The sweep's experiment description carries that link, and `make ui`
prints it for every sweep in the store.

`server_command` starts `mlflow ui` with one uvicorn worker and without MLflow's job runner
(its GenAI job consumers would start beside the server for a sqlite store): two processes
instead of about eight.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import quote, urlencode

VARIANTS_FILTER = "tags.lynx_role = 'variant'"
SORT_BY = "metrics.`openvqa/overall`"


def variants_url(experiment_id: str, base: str = "") -> str:
    """The chart view of the experiment's variant runs, flat and best first; relative to
    the UI's root unless `base` (e.g. `http://127.0.0.1:5000/`) is given."""
    query = {
        "searchFilter": VARIANTS_FILTER,
        "orderByKey": SORT_BY,
        "orderByAsc": "false",
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
