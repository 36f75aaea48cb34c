"""`ray job submit` of the smoke sweep to a real local Ray cluster, tracked by an MLflow server.

The test starts both itself (own temp dir, free ports) and stops exactly what it started:
the Ray processes whose command line names its temp dir, and the MLflow server's session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.processes import free_port, kill_until_gone

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
ENV.pop("RAY_ADDRESS", None)


def pids_naming(text: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split() if int(pid) != os.getpid()]


def wait_for_job_agent(address: str, timeout: float = 120) -> None:
    """A fresh head answers before its job agent is up; submit a no-op job until one runs."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    client = JobSubmissionClient(address)
    deadline = time.monotonic() + timeout
    while True:
        try:
            job = client.submit_job(entrypoint="true")
            break
        except RuntimeError:
            assert time.monotonic() < deadline, "the Ray job agent never came up"
            time.sleep(1)
    while client.get_job_status(job) not in {JobStatus.SUCCEEDED, JobStatus.FAILED}:
        assert time.monotonic() < deadline, "the no-op job did not finish"
        time.sleep(0.5)


@pytest.fixture
def ray_cluster():
    temp = Path(tempfile.mkdtemp(prefix="lynxray", dir="/tmp"))  # short: socket paths
    dashboard = free_port()
    start = [str(BIN / "ray"), "start", "--head", "--port", str(free_port()),
             "--temp-dir", str(temp), "--num-cpus", "2", "--include-dashboard", "true",
             "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
             "--disable-usage-stats"]  # fmt: skip
    try:
        subprocess.run(start, env=ENV, check=True, capture_output=True, timeout=180)
        address = f"http://127.0.0.1:{dashboard}"
        wait_for_job_agent(address)
        yield address
    finally:
        kill_until_gone(lambda: pids_naming(str(temp)))
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri",
               f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination",
               str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]  # fmt: skip
    server = subprocess.Popen(
        command,
        env=ENV,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server did not come up"
                time.sleep(1)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.slow  # a Ray cluster, an MLflow server and a smoke sweep: two minutes
def test_ray_job_submit_of_the_smoke_sweep_logs_to_the_mlflow_server(
    ray_cluster, mlflow_server, tmp_path
):
    env = {**ENV, "MLFLOW_TRACKING_URI": mlflow_server}
    command = [sys.executable, "-m", "ablations", "submit", "smoke", "--address", ray_cluster,
               "--results", str(tmp_path / "results")]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "succeeded" in output
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("smoke")
    runs = client.search_runs([experiment.experiment_id], "tags.lynx_role = 'variant'")
    assert sorted(r.data.tags["lynx_variant"] for r in runs) == ["cross-attention", "prefix"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all("openvqa/overall" in r.data.metrics for r in runs)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"config.yaml", "predictions.jsonl"} <= artifacts  # uploaded through the server
