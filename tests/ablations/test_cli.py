"""The command line end to end: a bad sweep stops before compute; the smoke sweep runs fully."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.processes import kill_until_gone

REPO = Path(__file__).resolve().parents[2]


def local_env() -> dict[str, str]:
    """This environment, but tracking to the sqlite file and on a local Ray."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def run_cli(*args: str, results: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ablations", *args, "--results", str(results)],
        cwd=REPO,
        env=local_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_bad_sweep_exits_nonzero_before_ray_or_mlflow_start(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\naxes:\n  model.arch: [prefix, perceiver]\n")
    results = tmp_path / "results"
    done = run_cli("sweep", str(bad), results=results)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert str(bad) in out and "axes.model.arch[1]" in out and "line 3" in out
    assert "'prefix' or 'cross_attention'" in out
    assert not results.exists(), "nothing may be created: no MLflow store, no Ray session dir"


def test_plan_lists_the_variants_without_creating_a_store(tmp_path):
    done = run_cli("plan", "arch", results=tmp_path / "results")
    assert done.returncode == 0, done.stderr
    assert "bases 1 unique (naive 4); variants 4 to run, 0 recorded" in done.stdout
    assert not (tmp_path / "results").exists()
    for name in (
        "prefix-no-adapters",
        "prefix-adapters",
        "cross-attention-no-adapters",
        "cross-attention-adapters",
    ):
        assert name in done.stdout


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("smoke") / "results"
    first = run_cli("sweep", "sweeps/smoke.yaml", results=results)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return results, first


def variant_runs(results: Path):
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke")
    return client, client.search_runs([experiment.experiment_id], "tags.lynx_role = 'variant'")


def test_smoke_sweep_records_one_finished_run_per_variant(smoke_run):
    results, first = smoke_run
    client, runs = variant_runs(results)
    assert sorted(r.data.tags["lynx_variant"] for r in runs) == ["cross-attention", "prefix"]
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1
    assert client.get_run(parents.pop()).data.tags["lynx_role"] == "sweep"
    for run in runs:
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        for key in (
            "openvqa/overall",
            "openvqa/Color/acc",
            "stage2/final_loss",
            "params/trainable",
        ):
            assert math.isfinite(metrics[key]), key
        assert 0 <= metrics["openvqa/overall"] <= 100
        assert run.data.params["model.arch"] in {"prefix", "cross_attention"}
        history = client.get_metric_history(run.info.run_id, "stage2/loss")
        assert len(history) >= 2 and history[-1].step == 20  # per-step curve, not just a final
    assert "done     prefix" in first.stdout and "browse: make ui" in first.stdout


def test_smoke_sweep_writes_a_table_listing_every_variant(smoke_run):
    results, _ = smoke_run
    summary = (results / "smoke" / "summary.md").read_text()
    csv = (results / "smoke" / "summary.csv").read_text()
    for name in ("prefix", "cross-attention"):
        assert f"| {name} " in summary and name in csv
    assert "Overall %" in summary and "Δ vs prefix" in summary


def test_rerun_reuses_finished_runs_without_duplicates(smoke_run):
    results, _ = smoke_run
    again = run_cli("sweep", "sweeps/smoke.yaml", results=results)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "recorded earlier, not rerun: prefix, cross-attention" in again.stdout
    _, runs = variant_runs(results)
    assert len(runs) == 2
    plan = run_cli("plan", "smoke", results=results)
    assert "variants 0 to run, 2 recorded" in plan.stdout, plan.stdout


def test_crashed_trial_is_retried_and_resumes_from_its_checkpoint(tmp_path):
    results = tmp_path / "results"
    done = run_cli("sweep", "smoke", "--fail-once-at", "prefix:stage2:10", results=results)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client, runs = variant_runs(results)
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    prefix = next(r for r in runs if r.data.tags["lynx_variant"] == "prefix")
    history = client.get_metric_history(prefix.info.run_id, "stage2/loss")
    # the retry continued from the step-10 checkpoint: no step is trained (or logged) twice
    assert [m.step for m in history] == [5, 10, 15, 20]
    stage1 = client.get_metric_history(prefix.info.run_id, "stage1/loss")
    assert [m.step for m in stage1] == [5, 10]
    markers = list((results / "store" / "variants").glob("prefix-*/.injected-failure"))
    assert len(markers) == 1, "the failure really was raised once"


def session_processes(sid: int) -> list[int]:
    """Live processes of a session (zombies are dead, only waiting to be reaped)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True).stdout
    rows = (line.split() for line in out.splitlines())
    return [int(pid) for pid, s, stat in rows if int(s) == sid and not stat.startswith("Z")]


def kill_session(sid: int) -> None:
    """SIGKILL every process of the sweep's session (driver, Ray head, workers) and wait."""
    kill_until_gone(lambda: session_processes(sid))


def test_sweep_killed_midway_completes_on_rerun_without_duplicates(tmp_path):
    results = tmp_path / "results"
    command = [sys.executable, "-m", "ablations", "sweep", "smoke", "--results", str(results)]
    sweep = subprocess.Popen(
        command,
        cwd=REPO,
        env=local_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in sweep.stdout:
            if line.startswith("done "):  # one variant recorded, the other mid-training
                break
    finally:
        kill_session(sweep.pid)
        sweep.wait(timeout=30)
    finished_first = line.split()[1].rstrip(":")

    again = run_cli("sweep", "smoke", results=results)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"recorded earlier, not rerun: {finished_first}" in again.stdout
    client, runs = variant_runs(results)
    assert sorted(r.data.tags["lynx_variant"] for r in runs) == ["cross-attention", "prefix"]
    assert all(r.info.status == "FINISHED" for r in runs)
    for run in runs:  # no logged step twice: nothing finished was trained again
        for key in ("stage1/loss", "stage2/loss"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert len(steps) == len(set(steps)), (run.data.tags["lynx_variant"], key, steps)
