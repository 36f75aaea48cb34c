"""A disk that fills up or a permission refused while a sweep writes its results: a clear
error naming the path, everything recorded before it intact, and the same command, run again
once the disk has room, finishing from there."""

from __future__ import annotations

import json

import pytest

from ablations.store import Store
from tests.sweeps import local_env, run_cli, variant_runs

CASES = {  # LYNX_FAULT, what the error says, the path it names
    "disk-full-writing-a-manifest": (
        "enospc@write:*/stage2/*/manifest.json#*",
        "No space left on device",
        "/stage2/",
    ),
    "permission-refused-writing-predictions": (
        "eacces@write:*/eval/*/predictions.jsonl#*",
        "Permission denied",
        "/predictions.jsonl",
    ),
    "disk-full-recording-to-mlflow": (
        "enospc@mlflow:finish#*",
        "No space left on device",
        "mlflow.db",
    ),
}


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("case", list(CASES))
def test_a_write_that_fails_is_named_and_the_rerun_finishes(case, tmp_path):
    fault, error, path = CASES[case]
    results = tmp_path / "results"
    failed = run_cli("sweep", "smoke", results=results, env={**local_env(), "LYNX_FAULT": fault})
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out[-3000:]
    assert error in out and path in out and "run the same command again" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    store = Store(results / "store")
    finished = list((results / "store").glob("*/*/manifest.json"))
    assert finished, "what finished before the fault is kept"
    for manifest in finished:
        stage, key = manifest.parent.parent.name, manifest.parent.name
        assert store.damaged(stage, key) is None, manifest  # intact

    again = run_cli("sweep", "smoke", results=results)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    client, runs = variant_runs(results)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    for run in runs:
        for key in run.data.metrics:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert len(steps) == len(set(steps)), (key, steps)
    for manifest in finished:  # nothing finished before the fault ran again
        attempts = (manifest.parent / "attempts.jsonl").read_text().splitlines()
        assert len(attempts) == 1, manifest
    for folder in (results / "store" / "stage2").iterdir():  # resumed at its last step
        attempts = [json.loads(line) for line in (folder / "attempts.jsonl").open()]
        if case == "disk-full-writing-a-manifest":
            assert attempts[-1]["checkpoints"] == {"train": 20}, attempts
