"""A disk that fills up or a permission refused while a sweep writes its results: a clear
error naming the path, everything recorded before it intact, and the same command, run again
once the disk has room, finishing from there."""

from __future__ import annotations

import json

import pytest

from ablations.planning.store import Store
from tests.sweeps import local_env, run_cli, variant_runs

# in the order one smoke sweep meets them: LYNX_FAULT, what the error says, the path it names
FAULTS = [
    ("enospc@write:*/stage2/*/manifest.json#*", "No space left on device", "/stage2/"),
    ("eacces@write:*/eval/*/predictions.jsonl#*", "Permission denied", "/predictions.jsonl"),
    ("enospc@mlflow:finish#*", "No space left on device", "mlflow.db"),
]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_each_write_that_fails_is_named_and_the_rerun_goes_on_from_there(tmp_path):
    """The smoke sweep meets each fault in turn (a full disk writing a manifest, a refused
    permission writing predictions, a full disk recording to MLflow): each run stops with
    the path named and what was recorded intact; the next run, with the next fault, goes on
    from there; the last, with none, finishes."""
    results = tmp_path / "results"
    store = Store(results / "store")
    before: dict = {}  # each manifest written before a fault → its attempts then
    for fault, error, path in FAULTS:
        failed = run_cli(
            "sweep", "smoke", results=results, env={**local_env(), "LYNX_FAULT": fault}
        )
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out[-3000:]
        assert error in out and path in out and "run the same command again" in out, out[-3000:]
        assert "Traceback" not in out, out[-3000:]
        finished = list((results / "store").glob("*/*/manifest.json"))
        assert finished, "what finished before the fault is kept"
        for manifest in finished:
            stage, key = manifest.parent.parent.name, manifest.parent.name
            assert store.damaged(stage, key) is None, manifest  # intact
            before.setdefault(manifest, attempts(manifest.parent))

    again = run_cli("sweep", "smoke", results=results)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    client, runs = variant_runs(results)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    for run in runs:
        for key in run.data.metrics:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert len(steps) == len(set(steps)), (key, steps)
    for manifest, then in before.items():  # nothing finished before a fault ran again
        assert attempts(manifest.parent) == then, manifest
    for folder in (results / "store" / "stage2").iterdir():  # its manifest refused at the
        retried = attempts(folder)[1:]  # end: every later attempt resumed from there
        assert retried and all(a["checkpoints"] == {"train": 20} for a in retried), retried


def attempts(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "attempts.jsonl").open()]
