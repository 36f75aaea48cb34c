"""The eval stage on the generated suite and on a user's own folder of benchmark files."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from lynx_core.config import VariantConfig
from lynx_core.pipeline import run_stage
from lynx_core.stages import READS, STAGES
from tests.tiny import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny chain trained up to stage 2, and its generated evaluation suite."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("chain")
    cfg = tiny_config()
    folders = {stage: root / stage for stage in STAGES}
    for stage in STAGES:
        run_stage(stage, cfg, folders, root / "cache")
    (suite,) = (root / "cache" / "world").glob("eval-*")
    return cfg, folders, root / "cache", suite


def predictions(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").open()]


def test_generated_suite_scores_every_benchmark_form(trained):
    cfg, folders, cache, _ = trained
    metrics = run_stage("eval", cfg, folders, cache).metrics
    splits = {r["split"] for r in predictions(folders["eval"])}
    assert splits == {
        "openvqa", "openvqa_video", "compliance", "llm_compliance", "mme", "pope", "owleval"
    }  # fmt: skip
    image_total = sum(
        v for k, v in metrics.items() if k.startswith("openvqa/") and k.endswith("/total")
    )
    assert image_total == sum(r["split"] == "openvqa" for r in predictions(folders["eval"]))
    assert "openvqa_video/Action_Y_N/acc" in metrics
    assert metrics["compliance/one_word_n"] == metrics["compliance/detailed_n"] > 0
    assert metrics["compliance/one_word_n"] == cfg.eval.compliance_questions
    # the bare LLM is asked the very same questions, with each image described in words
    rows = predictions(folders["eval"])
    mllm = [r["question"] for r in rows if r["split"] == "compliance"]
    llm = [r["question"] for r in rows if r["split"] == "llm_compliance"]
    assert llm == mllm and metrics["llm_compliance/detailed_n"] == len(llm) / 2
    for split in ("compliance", "llm_compliance"):
        assert 0 <= metrics[f"{split}/overall"] <= 100
        assert metrics[f"{split}/detailed_words"] >= 0
    assert 0 <= metrics["mme/perception"] <= 200 * 5
    # hallucination: POPE's probes (half about absent objects), and the absent things the
    # answers asked for detail name, each record saying which
    pope = [r for r in rows if r["split"] == "pope"]
    assert {r["setting"] for r in pope} == {"random", "popular"}
    absent = [r for r in pope if r["label"] == "no"]
    said_yes = 100 * sum(r["said"] == "yes" for r in absent) / len(absent)
    assert metrics["pope/false_yes"] == pytest.approx(said_yes)
    detailed = [r for r in rows if r["split"] == "compliance" and r["instruction"] == "detailed"]
    named = 100 * sum(bool(r["absent"]) for r in detailed) / len(detailed)
    assert metrics["hallucination/chair_s"] == pytest.approx(named)


@pytest.mark.parametrize("stage", ["stage2", "eval"])
def test_a_stage_loads_only_the_ancestors_it_declares(trained, tmp_path, stage):
    """The store verifies exactly `READS[stage]` before a trial; the stage must need no more."""
    cfg, folders, cache, _ = trained
    given = {ancestor: folders[ancestor] for ancestor in READS[stage]} | {stage: tmp_path}
    output = run_stage(stage, cfg, given, cache)  # a KeyError if it reached another folder
    assert output.metrics[f"{stage}/wall_time_s"] > 0
    assert any(tmp_path.iterdir())


def test_a_users_suite_folder_is_evaluated_instead_and_may_lack_parts(trained, tmp_path):
    cfg, folders, cache, generated = trained
    mine = tmp_path / "my-benchmarks"
    shutil.copytree(generated / "openvqa", mine / "openvqa")
    (mine / "openvqa" / "video.jsonl").unlink()
    (mine / "openvqa" / "image_descriptions.jsonl").unlink()  # real benchmarks have none
    lines = (mine / "openvqa" / "image.jsonl").read_text().splitlines()[:3]
    (mine / "openvqa" / "image.jsonl").write_text("\n".join(lines) + "\n")
    users = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"suite": mine})})
    metrics = run_stage("eval", users, folders, cache).metrics
    rows = predictions(folders["eval"])
    assert {r["split"] for r in rows} == {"openvqa", "compliance"}
    assert sum(r["split"] == "openvqa" for r in rows) == 3
    assert not any(k.startswith(("openvqa_video/", "mme/")) for k in metrics)


def test_a_missing_suite_folder_is_refused_before_compute(tmp_path):
    """The config only describes the folder; the sweep's validation looks for it, and
    names the line that set it."""
    from ablations.sweep.errors import SweepError
    from ablations.sweep.spec import load_sweep

    nowhere = tmp_path / "nowhere"
    assert VariantConfig.model_validate({"eval": {"suite": str(nowhere)}}).eval.suite == nowhere
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: s\nbase:\n  eval.suite: {nowhere}\n")
    with pytest.raises(SweepError) as caught:
        load_sweep(sweep)
    (problem,) = caught.value.problems
    assert problem.field == "base.eval.suite" and problem.line == 3
    assert f"path '{nowhere}' does not exist" in problem.message
    assert load_sweep(sweep, check_paths=False).expand()  # planning looks for nothing


def test_the_bare_llms_answers_are_computed_once_per_bases(trained, monkeypatch):
    """Every variant and seed on the same bases asks their frozen LLM the same questions:
    the answers are kept in the store's cache and read back, not generated again."""
    import lynx_core.evaluate.suite as suite

    cfg, folders, cache, _ = trained
    first = run_stage("eval", cfg, folders, cache).metrics
    assert len(list((cache / "bare_llm").glob("*.json"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the bare LLM answered again")

    monkeypatch.setattr(suite, "llm_answers", refuse)
    again = run_stage("eval", cfg, folders, cache).metrics
    assert {k: v for k, v in again.items() if k.startswith("llm_compliance/")} == {
        k: v for k, v in first.items() if k.startswith("llm_compliance/")
    }


def test_a_batch_reads_and_encodes_each_distinct_file_once(trained):
    """Questions about one image come one after another: a batch runs each file through the
    trunk once and hands every question its file's tokens, in the batch's order."""
    from lynx_core.evaluate.suite import MediaTable

    *_, suite = trained
    images = sorted(suite.rglob("*.png"))[:3]
    assert len(images) == 3
    seen: list[int] = []

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        seen.append(len(pixels))
        return pixels.flatten(1).sum(1, keepdim=True)  # a token per file that tells them apart

    table = MediaTable(image_size=16, frames=1, encode=encode)
    rows = [table.index(path, "image") for path in images]
    asked = [rows[0], rows[0], rows[1], rows[0], rows[2], rows[2]]
    tokens = table.read("image", asked)
    assert seen == [3]
    one_by_one = torch.cat([table.read("image", [row]) for row in asked])
    torch.testing.assert_close(tokens, one_by_one)
    assert len({round(t.item(), 3) for t in tokens}) == 3


def test_another_eval_on_the_same_trunk_reads_the_kept_tokens(trained, tmp_path):
    """With a place to keep them (fp32), a batch's tokens are computed by the first eval that
    asks and read by the next: the same numbers, no trunk pass."""
    from lynx_core.data.files.computed import cache_file
    from lynx_core.evaluate.suite import MediaTable

    *_, suite = trained
    images = sorted(suite.rglob("*.png"))[:4]
    passes: list[int] = []

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        passes.append(len(pixels))
        return pixels.flatten(1)[:, :5]

    def keep(*depends_on):
        return cache_file(tmp_path, "eval_trunk_tokens", "this trunk", *depends_on)

    read = []
    for _ in range(2):
        table = MediaTable(image_size=16, frames=1, encode=encode, keep=keep)
        rows = [table.index(path, "image") for path in images]
        read.append(table.read("image", [rows[1], rows[1], rows[3]]))
    assert passes == [2]
    torch.testing.assert_close(read[0], read[1], rtol=0, atol=0)
