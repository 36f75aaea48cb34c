"""The eval stage with the GPT judge: verdicts scored, undecided never scored, cache reused,
and an evaluation the judge failed on is not finished until a rerun judges what is left."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lynx_core.evaluate.finite import EvaluationFailed
from lynx_core.evaluate.gpt_judge import JudgeIncomplete
from lynx_core.pipeline import run_stage
from lynx_core.stages import STAGES
from tests.fake_openai import FakeOpenAI
from tests.tiny import tiny_config


def judged_config(server, cache_dir, concurrency: int = 4):
    return tiny_config(
        **{
            "eval.judge": "gpt",
            "eval.gpt_judge.base_url": server.base_url,
            "eval.gpt_judge.api_key_env": "LYNX_TEST_JUDGE_KEY",
            "eval.gpt_judge.cache_dir": str(cache_dir),
            "eval.gpt_judge.max_attempts": 2,
            "eval.gpt_judge.concurrency": concurrency,
            "eval.gpt_judge.backoff_s": 0.01,
            "eval.gpt_judge.timeout_s": 1.0,
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Bases, stage 1 and stage 2 of the tiny config, trained once for these tests (the
    judge settings are eval fields: they change nothing before eval)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("judged")
    folders = {stage: root / "store" / stage / "k" for stage in STAGES}
    cache = root / "store" / "cache"
    for stage in STAGES[:-1]:
        run_stage(stage, tiny_config(), folders, cache)
    return folders, cache


def judged_records(folder) -> list[dict]:
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    return [r for line in lines if (r := json.loads(line))["split"].startswith("openvqa")]


def test_eval_with_the_gpt_judge_scores_its_verdicts_and_reuses_the_cache(
    trained, tmp_path, monkeypatch
):
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", "sk-test-secret")
    folders, cache = trained
    folders = {**folders, "eval": tmp_path / "eval"}
    with FakeOpenAI() as server:
        cfg = judged_config(server, tmp_path / "judge_cache")
        metrics = run_stage("eval", cfg, folders, cache).metrics
        judged = judged_records(folders["eval"])
        distinct = {(r["question"], tuple(r["answer"]), r["prediction"]) for r in judged}
        assert server.requests == len(distinct) > 0  # identical judgments are asked once
        for split in ("openvqa", "openvqa_video"):
            records = [r for r in judged if r["split"] == split]
            counts = {k: metrics[f"{split}/judge/{k}"] for k in ("correct", "incorrect")}
            undecided = metrics[f"{split}/judge/invalid"] + metrics[f"{split}/judge/error"]
            assert sum(counts.values()) + undecided == len(records) > 0
            right = sum(r["correct"] is True for r in records)
            assert metrics[f"{split}/overall"] == 100.0 * right / len(records)
        assert {r["judge"] for r in judged} == {"gpt:gpt-4-0613"}
        for r in judged:  # each prediction keeps the judge's verdict and its reply
            assert r["verdict"] in {"correct", "incorrect", "invalid", "error"}
            assert "judge_reply" in r
        for r in judged:  # the fake judges exact matches right: the verdicts were used
            assert r["correct"] == (r["prediction"].lower() in [a.lower() for a in r["answer"]])

        again = run_stage("eval", cfg, folders, cache)
        assert server.requests == len(distinct), "re-evaluation is answered from the cache"
        cached = again.metrics["openvqa/judge/cached"] + again.metrics["openvqa_video/judge/cached"]
        assert cached == len(judged)


def test_an_eval_the_judge_failed_on_is_unfinished_and_its_rerun_asks_only_for_those(
    trained, tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", "sk-test-secret")
    folders, cache = trained
    folders = {**folders, "eval": tmp_path / "eval"}
    with FakeOpenAI() as server:
        cfg = judged_config(server, tmp_path / "judge_cache", concurrency=1)
        server.failures.extend([500] * 6)  # the first three answers' two attempts each
        with pytest.raises(JudgeIncomplete) as refused:
            run_stage("eval", cfg, folders, cache)
        first = server.requests
        failed = [r for r in judged_records(folders["eval"]) if r["verdict"] == "error"]
        distinct = {(r["question"], tuple(r["answer"]), r["prediction"]) for r in failed}
        assert len(distinct) == 3 and all(r["correct"] is None for r in failed)
        assert f"failed on {len(failed)} of " in str(refused.value)
        assert "(InternalServerError), after 2 attempts" in str(refused.value)

        output = run_stage("eval", cfg, folders, cache)  # the judge is back
        assert server.requests - first == len(distinct), "only the failed answers are asked"
        records = judged_records(folders["eval"])
        assert not [r for r in records if r["verdict"] == "error"]
        assert output.metrics["openvqa/judge/error"] == 0
    assert "sk-test-secret" not in "".join(capfd.readouterr())


def test_undecided_answers_are_never_scored(trained, tmp_path, monkeypatch):
    """An answer the judge could not grade (an unparseable reply) counts neither as right
    nor as wrong: Overall is over the decided answers."""
    from lynx_core.data.examples import Example
    from lynx_core.evaluate.openvqa import score

    examples = [Example(i, "image", "q", "red", "Color") for i in range(4)]
    metrics, records = score(examples, ["red"] * 4, [True, False, None, None], "gpt:x")
    assert metrics["overall"] == 50.0 and metrics["Color/acc"] == 50.0
    assert metrics["Color/total"] == 4 and metrics["undecided"] == 2
    nothing, _ = score(examples[:1], ["red"], [None], "gpt:x")
    assert math.isnan(nothing["overall"])


def test_an_eval_whose_judge_decides_nothing_fails_instead_of_recording_nan(
    trained, tmp_path, monkeypatch
):
    """Every reply without a verdict: Overall would be NaN, so the stage fails with the
    reason and returns no metrics to record (the fault suite's NaN-metric case)."""
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", "sk-test-secret")
    folders, cache = trained
    folders = {**folders, "eval": tmp_path / "eval"}
    with FakeOpenAI(evasive=True) as server, pytest.raises(EvaluationFailed) as failed:
        run_stage("eval", judged_config(server, tmp_path / "judge_cache"), folders, cache)
    message = str(failed.value)
    asked = len(judged_records(folders["eval"]))
    assert asked > 0 and "openvqa/overall is nan" in message
    assert "the judge decided none of its answers" in message
    assert "openvqa_video/overall is nan" in message  # every headline that failed is named
