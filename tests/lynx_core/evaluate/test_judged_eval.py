"""The eval stage with the GPT judge: verdicts scored, undecided counted, cache reused."""

from __future__ import annotations

import json

import torch

from lynx_core.pipeline import run_stage
from lynx_core.stages import STAGES
from tests.fake_openai import FakeOpenAI
from tests.tiny import tiny_config


def test_eval_with_the_gpt_judge_scores_its_verdicts_and_reuses_the_cache(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", "sk-test-secret")
    with FakeOpenAI() as server:
        cfg = tiny_config(
            **{
                "eval.judge": "gpt",
                "eval.gpt_judge.base_url": server.base_url,
                "eval.gpt_judge.api_key_env": "LYNX_TEST_JUDGE_KEY",
            }
        )
        folders = {stage: tmp_path / "store" / stage / "k" for stage in STAGES}
        cache = tmp_path / "store" / "cache"
        for stage in STAGES:
            output = run_stage(stage, cfg, folders, cache)
        metrics = output.metrics
        lines = (folders["eval"] / "predictions.jsonl").open()
        judged = [r for line in lines if (r := json.loads(line))["split"].startswith("openvqa")]
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
        assert (cache / "judge_cache").is_dir()
