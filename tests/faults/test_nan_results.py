"""A judge that decides nothing: the evaluation's headline would be NaN, so the sweep fails
that variant with the reason and records nothing as its result: no finished run, no metric,
no stage output, no row in a table (the fault suite's NaN-metric class; the stage itself is
tested in `tests/lynx_core/evaluate/test_judged_eval.py`)."""

from __future__ import annotations

import pytest
from mlflow.entities import RunStatus

from tests.fake_openai import FakeOpenAI
from tests.sweeps import local_env, run_cli, variant_runs

SWEEP = """name: nan
description: a GPT judge that answers without a verdict
scale: tiny
variants:
  prefix: {{model.arch: prefix}}
base:
  eval.judge: gpt
  eval.gpt_judge.base_url: {url}
  eval.gpt_judge.api_key_env: LYNX_TEST_JUDGE_KEY
  eval.gpt_judge.max_attempts: 1
resources:
  cpus: 1
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_evaluation_whose_headline_is_nan_fails_and_records_nothing(tmp_path):
    results = tmp_path / "results"
    sweep = tmp_path / "nan.yaml"
    with FakeOpenAI(evasive=True) as server:  # every reply without a verdict
        sweep.write_text(SWEEP.format(url=server.base_url))
        env = {**local_env(), "LYNX_TEST_JUDGE_KEY": "sk-test"}
        done = run_cli("sweep", str(sweep), results=results, env=env)
        assert server.requests > 0  # the judge was asked
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, out[-3000:]
    assert "failed prefix: eval failed: EvaluationFailed" in out
    assert "openvqa/overall is nan: the judge decided none of its answers" in out
    assert "no finished runs of 'nan' in MLflow yet" in out

    client, runs = variant_runs(results, "nan")
    (run,) = runs
    assert run.info.status == RunStatus.to_string(RunStatus.FAILED)
    assert "openvqa/overall is nan" in run.data.tags["lynx_error"]
    assert not [k for k in run.data.metrics if k.startswith(("openvqa", "mme", "compliance"))]
    eval_store = results / "store" / "eval"
    assert not list(eval_store.glob("*/manifest.json")), "an eval stage was recorded finished"
    for table in ("ablation.md", "summary.md", "openvqa_image.md"):  # no row, NaN or other
        assert "prefix" not in (results / "nan" / table).read_text(), table
