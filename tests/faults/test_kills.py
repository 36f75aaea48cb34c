"""The fault suite's slow part: a sweep killed (SIGKILL, driver, Ray and trials at once) at
six chosen points in turn, each time running the same command again, until it completes.

Each kill lands exactly where it is named: the sweep runs with `LYNX_FAULT=pause@<point>`
(`lynx_core.faults`), the process that reaches the point marks it and sleeps, and the test
kills the whole session; the rerun goes on from what the kills left, with the next point
armed (one sweep's worth of compute for six kills). The last run must complete with nothing
lost (every variant FINISHED, every curve whole), nothing duplicated in MLflow (one run per
variant, no step or final value logged twice), no finished stage trained again, and every
interrupted stage continuing from its last good checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweeps import REPO, kill_session, local_env, run_cli, variant_runs

# the kill points, in the order one smoke sweep reaches them: (name, LYNX_FAULT target, the
# stage it interrupts, the checkpoints the interrupted stage's next attempt starts from)
KILL_POINTS = [
    ("during-the-bases", "step:bases:20", "bases", {"bases": 15}),
    ("while-a-manifest-is-written", "write:*/stage1/*/manifest.json", "stage1", {"train": 10}),
    (
        "while-a-checkpoint-is-written",
        "write:*/stage2/*/train.00000010.ckpt",
        "stage2",
        {"train": 5},
    ),
    # its data in place, its checksum half written: the last good checkpoint is still step 5's
    (
        "while-a-checksum-is-written",
        "write:*/stage2/*/train.00000010.ckpt.sha256",
        "stage2",
        {"train": 5},
    ),
    ("during-eval", "eval:openvqa", "eval", {}),
    ("while-mlflow-is-written", "mlflow:finish", None, None),
]
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
@pytest.mark.timeout(1800)
def test_a_sweep_killed_at_each_point_in_turn_completes_with_nothing_lost_or_duplicated(tmp_path):
    """One smoke sweep, SIGKILLed at each point in turn: each rerun of the same command goes
    on from what the kills left and is killed at the next point; the last one completes."""
    results = tmp_path / "results"
    kills = []  # (point, the folder it cut short, its attempts then, resumed from, finished)
    for index, (point, target, interrupted, resumed_from) in enumerate(KILL_POINTS):
        markers = tmp_path / f"markers{index}"
        sweep_killed_at(target, results, markers)
        reached = (markers / "paused").read_text()  # the full name of the point reached
        folder = cut_short(results, reached, interrupted)
        attempts = len((folder / "attempts.jsonl").read_text().splitlines()) if folder else 0
        kills.append((point, folder, attempts, resumed_from, finished_stages(results)))

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
    for point, folder, attempts, resumed_from, before in kills:
        for done, count in before.items():  # finished before a kill: never run again
            assert after[done] == count, (point, done)
        if folder is not None:  # the stage cut short went on from its last good checkpoint
            resumed = json.loads((folder / "attempts.jsonl").read_text().splitlines()[attempts])
            assert resumed["checkpoints"] == resumed_from, (point, resumed)


def cut_short(results: Path, reached: str, stage: str | None) -> Path | None:
    """The stage folder a kill at `reached` interrupted: the one written to, or an
    unfinished folder of `stage`."""
    if reached.startswith("write:"):
        return Path(reached.removeprefix("write:")).parent
    if stage is None:
        return None
    started = [  # begun (a claimed folder holds only its lock until the run begins)
        f
        for f in results.glob(f"store/{stage}/*")
        if (f / "attempts.jsonl").exists() and not (f / "manifest.json").exists()
    ]
    return started[0]
