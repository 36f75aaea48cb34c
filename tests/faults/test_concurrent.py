"""Two sweeps started at once on one results folder: shared stage runs are computed once,
both finish, and MLflow holds one run per variant per sweep; the same sweep started twice
takes its turn instead of racing itself."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.sweeps import REPO, local_env


def sweep_process(sweep: str, results) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ablations", "sweep", sweep, "--results", str(results)],
        cwd=REPO, env=local_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sweeps_started_together_compute_each_shared_stage_once(tmp_path):
    twin = tmp_path / "twin.yaml"  # the smoke sweep under another name: every stage shared
    twin.write_text(
        (REPO / "sweeps" / "smoke.yaml").read_text().replace("name: smoke", "name: twin")
    )
    results = tmp_path / "results"
    started = {
        "smoke": sweep_process("smoke", results),
        "twin": sweep_process(str(twin), results),
        "smoke again": sweep_process("smoke", results),
    }
    outputs = {name: p.communicate(timeout=1100)[0] for name, p in started.items()}
    for name, process in started.items():
        assert process.returncode == 0, f"{name}:\n{outputs[name][-3000:]}"

    for folder in (results / "store").glob("*/*/"):
        if folder.parent.name == "cache":
            continue
        attempts = (folder / "attempts.jsonl").read_text().splitlines()
        assert len(attempts) == 1, f"{folder} computed {len(attempts)} times"
    assert len(list((results / "store").glob("*/*/manifest.json"))) == 1 + 2 + 2 + 2

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    for sweep in ("smoke", "twin"):
        experiment = client.get_experiment_by_name(sweep).experiment_id
        runs = client.search_runs([experiment], "tags.lynx_role = 'variant'")
        assert sorted(r.data.tags["lynx_variant"] for r in runs) == ["cross-attention", "prefix"]
        assert all(r.info.status == "FINISHED" for r in runs)
        assert len(client.search_runs([experiment], "tags.lynx_role = 'sweep'")) == 1
    waited = [name for name in ("smoke", "smoke again") if "waiting" in outputs[name]]
    assert len(waited) == 1, "one of the two smoke sweeps waited for the other"
    assert "recorded earlier, not rerun: prefix, cross-attention" in outputs[waited[0]]
