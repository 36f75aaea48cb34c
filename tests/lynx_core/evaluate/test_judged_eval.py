"""The eval stage with the GPT judge: verdicts scored, undecided counted, cache reused."""

from __future__ import annotations

import json

import torch

from lynx_core.config import VariantConfig
from lynx_core.pipeline import run_stage
from lynx_core.stages import STAGES
from tests.fake_openai import FakeOpenAI

TINY = {
    "data": {"train_images": 16, "eval_images": 4},
    "train": {
        "bases": {"steps": 5, "batch_size": 8},
        "stage1": {"steps": 5, "batch_size": 8},
        "stage2": {"steps": 5, "batch_size": 8},
    },
}


def test_eval_with_the_gpt_judge_scores_its_verdicts_and_reuses_the_cache(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", "sk-test-secret")
    with FakeOpenAI() as server:
        judged = {"judge": "gpt", "gpt_judge": {"base_url": server.base_url}}
        judged["gpt_judge"]["api_key_env"] = "LYNX_TEST_JUDGE_KEY"
        cfg = VariantConfig.model_validate({**TINY, "eval": judged})
        folders = {stage: tmp_path / "store" / stage / "k" for stage in STAGES}
        for stage in STAGES:
            output = run_stage(stage, cfg, folders)
        metrics = output.metrics
        records = [json.loads(line) for line in (folders["eval"] / "predictions.jsonl").open()]
        distinct = {(r["question"], r["answer"][0], r["prediction"]) for r in records}
        assert server.requests == len(distinct) > 0  # identical judgments are asked once
        decided = metrics["judge/correct"] + metrics["judge/incorrect"]
        assert decided + metrics["judge/invalid"] + metrics["judge/error"] == len(records)
        right = sum(r["correct"] is True for r in records)
        assert metrics["openvqa/overall"] == 100.0 * right / len(records)
        assert {r["judge"] for r in records} == {"gpt:gpt-4-0613"}
        for r in records:  # the fake judges exact matches right: the verdicts were used
            assert r["correct"] == (r["prediction"].lower() == r["answer"][0].lower())

        again = run_stage("eval", cfg, folders)
        assert server.requests == len(distinct), "re-evaluation is answered from the cache"
        assert again.metrics["judge/cached"] == len(records)
        assert (tmp_path / "store" / "judge_cache").is_dir()
