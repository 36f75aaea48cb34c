"""The fault suite's slow part: a sweep killed (SIGKILL, driver, Ray and trials at once) at
five chosen points, then the same command again.

Each kill lands exactly where it is named: the sweep runs with `LYNX_FAULT=pause@<point>`
(`lynx_core.faults`), the process that reaches the point marks it and sleeps, and the test
kills the whole session. The rerun must complete with nothing lost (every variant FINISHED,
every curve whole), nothing duplicated in MLflow (one run per variant, no step or final value
logged twice), no finished stage trained again (one attempt each), and an interrupted stage
continuing from its last good checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweeps import REPO, kill_session, local_env, run_cli, variant_runs

# point → (LYNX_FAULT target, the stage it interrupts, checkpoints the retry starts from)
KILL_POINTS = {
    "during-the-bases": ("step:bases:20", "bases", {"bases": 15}),
    "while-a-checkpoint-is-written": (
        "write:*/stage2/*/train.00000010.ckpt",
        "stage2",
        {"train": 5},
    ),
    # its data in place, its checksum half written: the last good checkpoint is still step 5's
    "while-a-checksum-is-written": (
        "write:*/stage2/*/train.00000010.ckpt.sha256",
        "stage2",
        {"train": 5},
    ),
    "while-a-manifest-is-written": ("write:*/stage1/*/manifest.json", "stage1", {"train": 10}),
    "while-mlflow-is-written": ("mlflow:finish", None, None),
    "during-eval": ("eval:openvqa", "eval", {}),
}
STAGE_STEPS = {"stage1/loss": [5, 10], "stage2/loss": [5, 10, 15, 20]}  # the tiny preset's


def finished_stages(results: Path) -> dict[Path, int]:
    """Stage folders with a manifest → how many attempts they record."""
    return {
        m.parent: len((m.parent / "attempts.jsonl").read_text().splitlines())
        for m in (results / "store").glob("*/*/manifest.json")
    }


def sweep_killed_at(target: str, results: Path, markers: Path, timeout: float = 600) -> str:
    """Run the smoke sweep until a process reaches `target`, then SIGKILL all of it; its
    output so far."""
    markers.mkdir(parents=True)
    env = {**local_env(), "LYNX_FAULT": f"pause@{target}", "LYNX_FAULT_DIR": str(markers)}
    command = [sys.executable, "-m", "ablations", "sweep", "smoke", "--results", str(results)]
    sweep = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not (markers / "paused").exists():
            finished = sweep.poll() is not None
            assert not finished and time.monotonic() < deadline, (
                f"the sweep never reached {target}:\n{sweep.communicate()[0][-3000:]}"
            )
            time.sleep(0.2)
    finally:
        kill_session(sweep.pid)
    return sweep.communicate(timeout=30)[0]


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_sweep_killed_there_completes_on_rerun_with_nothing_lost_or_duplicated(point, tmp_path):
    target, interrupted, resumed_from = KILL_POINTS[point]
    results, markers = tmp_path / "results", tmp_path / "markers"
    sweep_killed_at(target, results, markers)
    reached = (markers / "paused").read_text()  # the full name of the point reached
    before = finished_stages(results)

    again = run_cli("sweep", "smoke", results=results)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    client, runs = variant_runs(results)
    experiment = client.get_experiment_by_name("smoke").experiment_id
    assert len(client.search_runs([experiment], "tags.lynx_role = 'sweep'")) == 1
    assert sorted(r.data.tags["lynx_variant"] for r in runs) == ["cross-attention", "prefix"]
    for run in runs:
        assert run.info.status == "FINISHED"
        for key in run.data.metrics:  # nothing logged twice, curves and final values alike
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert len(steps) == len(set(steps)), (run.data.tags["lynx_variant"], key, steps)
        for key, steps in STAGE_STEPS.items():  # nothing lost
            history = client.get_metric_history(run.info.run_id, key)
            assert sorted(m.step for m in history) == steps, key
    after = finished_stages(results)
    for folder, attempts in before.items():  # finished before the kill: never run again
        assert after[folder] == attempts == 1, folder
    if interrupted is not None:  # the stage cut short went on from its last good checkpoint
        paused = Path(reached.removeprefix("write:")).parent
        folders = (
            [paused] if reached.startswith("write:") else results.glob(f"store/{interrupted}/*")
        )
        retried = [
            json.loads(line)
            for folder in folders
            for line in (folder / "attempts.jsonl").read_text().splitlines()[1:]
        ]
        assert retried and all(r["checkpoints"] == resumed_from for r in retried), retried
