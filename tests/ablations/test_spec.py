"""Sweep files: every shipped sweep validates; expansion; bad files report every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablations.spec import SweepError, load_sweep

REPO = Path(__file__).resolve().parents[2]

SWEEPS = sorted((REPO / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_sweep_file_validates_and_says_what_it_answers(path: Path):
    text = path.read_text()
    assert text.startswith("# Question:"), "a sweep opens with the question it answers"
    assert f"make sweep NAME={path.stem}" in text.split("\nname:")[0]
    spec = load_sweep(path, check_paths=False)  # local weights are checked when run
    assert spec.name == path.stem
    names = [v.name for v in spec.expand()]
    assert len(names) == len(set(names))
    assert spec.baseline is None or spec.baseline in names


def test_arch_sweep_is_the_architecture_by_adapter_grid():
    variants = {v.name: v.config.model for v in load_sweep(REPO / "sweeps/arch.yaml").expand()}
    assert {n: (m.arch, m.adapters.enabled) for n, m in variants.items()} == {
        "prefix-no-adapters": ("prefix", False),
        "prefix-adapters": ("prefix", True),
        "cross-attention-no-adapters": ("cross_attention", False),
        "cross-attention-adapters": ("cross_attention", True),
    }


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_variants_seeds_and_labelled_axes(tmp_path):
    spec = load_sweep(
        write(
            tmp_path,
            """
name: mix
base: {model: {vision: {image_size: 48}}}
axes:
  model.arch: {px: prefix, xa: cross_attention}
variants:
  big-resampler: {model.resampler.num_queries: 16}
seeds: [1, 2]
""",
        )
    )
    variants = spec.expand()
    assert [v.name for v in variants] == [
        "px-s1",
        "px-s2",
        "xa-s1",
        "xa-s2",
        "big-resampler-s1",
        "big-resampler-s2",
    ]
    assert all(v.config.model.vision.image_size == 48 for v in variants)
    assert [v.config.train.seed for v in variants[:2]] == [1, 2]
    assert variants[-1].config.model.resampler.num_queries == 16
    assert variants[0].key != variants[1].key  # seeds are different runs


def test_every_problem_is_reported_at_once_with_file_line_and_allowed_values(tmp_path):
    path = write(
        tmp_path,
        """name: bad
base:
  model.llm.path: /no/such/llama
  train:
    stage1:
      stepz: 3
axes:
  model.arch: [prefix, perceiver]
variants:
  odd: {model.vision.image_size: 30}
baseline: nope
""",
    )
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    err = caught.value
    text = str(err)
    assert str(path) in text and "5 problems" in text
    by_field = {p.field: p for p in err.problems}
    assert by_field["base.model.llm.path"].line == 3
    assert "does not exist" in by_field["base.model.llm.path"].message
    stepz = by_field["base.train.stage1.stepz"]
    assert stepz.line == 6 and "allowed here: steps, batch_size" in stepz.message
    arch = by_field["axes.model.arch[1]"]
    assert arch.line == 8 and "'prefix' or 'cross_attention'" in arch.message
    assert "multiple of patch_size" in by_field["variants.odd.model.vision.image_size"].message
    assert "choose one of" in by_field["baseline"].message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nscale: huge\n", "unknown scale preset 'huge'; allowed: paper, tiny, toy"),
        ("name: x\nscale: paper\n", "scale 'paper' needs model.llm.path: the local folder"),
        ("name: x\nresources: {gpus: -1}\n", "greater than or equal to 0"),
        ("name: x\nfrobnicate: 1\n", "frobnicate"),
        ("name: Bad Name\n", "should match pattern"),
        ("name: x\naxes: {model.arch: {a: prefix}}\nvariants: {a: {}}\n", "used twice"),
        ("name: x\nbase: [1, 2\n", "yaml"),
    ],
)
def test_bad_sweeps_are_rejected_with_an_actionable_message(tmp_path, text, needle):
    with pytest.raises(SweepError) as caught:
        load_sweep(write(tmp_path, text))
    assert needle in str(caught.value)


def test_missing_sweep_file_is_an_error(tmp_path):
    with pytest.raises(SweepError, match="no such sweep file"):
        load_sweep(tmp_path / "nope.yaml")


def test_zip_groups_move_fields_together(tmp_path):
    spec = load_sweep(
        write(
            tmp_path,
            """
name: res
axes:
  model.arch: [prefix, cross_attention]
zip:
  - model.vision.image_size: {low: 32, high: 48}
    model.resampler.num_queries: [8, 16]
""",
        )
    )
    variants = {v.name: v.config.model for v in spec.expand()}
    assert list(variants) == [
        "prefix-low-num-queries8",
        "prefix-high-num-queries16",
        "cross-attention-low-num-queries8",
        "cross-attention-high-num-queries16",
    ]
    high = variants["prefix-high-num-queries16"]
    assert (high.vision.image_size, high.resampler.num_queries) == (48, 16)


def test_zip_problems_name_the_group_and_item(tmp_path):
    with pytest.raises(SweepError) as caught:
        load_sweep(
            write(
                tmp_path,
                """name: z
zip:
  - model.vision.image_size: [32, 30]
    model.resampler.num_queries: [8, 16]
  - model.arch: [prefix]
    model.adapters.enabled: [true, false]
""",
            )
        )
    by_field = {p.field: p for p in caught.value.problems}
    assert "equal lengths" in by_field["zip[1]"].message and by_field["zip[1]"].line == 5
    bad = by_field["zip[0][1].model.vision.image_size"]
    assert "multiple of patch_size" in bad.message and bad.line == 3


def test_include_merges_with_the_including_file_winning(tmp_path):
    (tmp_path / "common.yaml").write_text("""
name: common
base: {train.stage1.steps: 7, model: {resampler: {num_queries: 4}}}
axes: {model.arch: [prefix, cross_attention]}
seeds: [3]
""")
    spec = load_sweep(
        write(
            tmp_path,
            """
include: common.yaml
name: child
base: {train.stage1.steps: 9}
axes: {model.adapters.enabled: [false, true]}
""",
        )
    )
    variants = spec.expand()
    assert spec.name == "child" and len(variants) == 4
    config = variants[0].config
    assert config.train.stage1.steps == 9  # the including file wins
    assert config.model.resampler.num_queries == 4 and config.train.seed == 3  # inherited


def test_include_cycles_and_missing_includes_are_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\nname: b\n")
    with pytest.raises(SweepError, match=r"include cycle: a.yaml → b.yaml → a.yaml"):
        load_sweep(tmp_path / "a.yaml")
    with pytest.raises(SweepError, match="no such file 'nope.yaml'"):
        load_sweep(write(tmp_path, "include: nope.yaml\nname: x\n"))


def test_paper_sweep_plans_without_weights_but_needs_them_to_run(tmp_path, monkeypatch):
    paper = Path(__file__).resolve().parents[2] / "sweeps" / "paper.yaml"
    monkeypatch.chdir(tmp_path)  # relative weight paths resolve here, where there are none
    names = [v.name for v in load_sweep(paper, check_paths=False).expand()]
    assert names[0] == "lynx" and "w-cross-attn-trainable-llm" in names
    with pytest.raises(SweepError) as caught:
        load_sweep(paper)
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {
        "base.model.llm.path",
        "base.model.vision.checkpoint",
        "variants.w-llama.model.llm.path",
    }  # each missing path once, at the line that sets it
    assert "put the weights there or change the path" in problems["base.model.llm.path"].message


def test_a_gpt_judge_without_its_key_is_reported_before_compute(tmp_path, monkeypatch):
    monkeypatch.delenv("LYNX_MISSING_KEY", raising=False)
    path = tmp_path / "judged.yaml"
    path.write_text(
        "name: judged\nbase:\n  eval.judge: gpt\n  eval.gpt_judge.api_key_env: LYNX_MISSING_KEY\n"
    )
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    (problem,) = caught.value.problems
    assert problem.field == "eval.judge" and "$LYNX_MISSING_KEY" in problem.message
    assert "eval.judge: rule" in problem.message and problem.line == 2
    assert load_sweep(path, check_paths=False).expand()  # planning needs no key
    monkeypatch.setenv("LYNX_MISSING_KEY", "sk-x")
    assert load_sweep(path).expand()[0].config.eval.judge == "gpt"
