"""Sweep files: every shipped sweep validates; expansion; bad files report every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablations.sweep.spec import SweepError, load_sweep
from tests.tiny import llm_folder_stub

REPO = Path(__file__).resolve().parents[3]

SWEEPS = sorted((REPO / "sweeps").glob("*.yaml"))


def _scales(path: Path) -> list[str]:
    """The file's own scale, both study scales, and tiny (toy's sections apply to it)."""
    own = load_sweep(path, check_paths=False).scale
    return list(dict.fromkeys([own, "toy", "paper", "tiny"]))


@pytest.mark.parametrize(
    ("path", "scale"),
    [(path, scale) for path in SWEEPS for scale in _scales(path)],
    ids=lambda x: x.stem if isinstance(x, Path) else x,
)
def test_every_sweep_file_validates_at_both_scales_and_says_what_it_answers(path, scale):
    text = path.read_text()
    assert text.startswith("# Question:"), "a sweep opens with the question it answers"
    assert f"make sweep NAME={path.stem}" in text.split("\nname:")[0]
    spec = load_sweep(path, check_paths=False, scale=scale)  # weights are checked when run
    assert spec.name == path.stem and spec.scale == scale
    variants = spec.expand()
    names = [v.name for v in variants]
    assert len(names) == len(set(names))
    assert spec.baseline is None or spec.baseline in {v.group for v in variants}
    if scale == "paper":  # the paper's models, never a toy tower or toy LLM
        assert all(v.config.model.vision.open_clip_name == "EVA01-g-14" for v in variants)
        assert all(v.config.model.llm.path is not None for v in variants)


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


def test_a_variant_may_run_its_own_seeds_and_tuning_stays_apart_from_every_one(tmp_path):
    """More seeds where one comparison is noisy, not for the whole study: the variant runs
    its own seeds (given in a scale section too), the rest the sweep's, and the tuning seed
    is past every seed a run has, so no final run is a tuning candidate."""
    path = write(
        tmp_path,
        """name: few
variants:
  base: {}
  noisy: {model.arch: cross_attention}
  other: {model.arch: cross_attention, model.llm.trainable: true}
seeds: [0, 1]
tune: {variants: [noisy], values: {train.stage2.lr: [0.001, 0.003]}}
scales:
  toy:
    variants:
      noisy: {seeds: [0, 1, 2, 3]}
""",
    )
    spec = load_sweep(path)
    runs = [v.name for v in spec.expand()]
    assert runs == [
        *["base-s0", "base-s1"],
        *["noisy-s0", "noisy-s1", "noisy-s2", "noisy-s3"],
        *["other-s0", "other-s1"],
    ]
    assert spec.all_seeds == [0, 1, 2, 3] and spec.tuning_seeds == [4]
    assert {v.seed for v in spec.tuning().expand()} == {4}
    shared = load_sweep(path, scale="paper", check_paths=False)  # the toy section is not read
    assert [v.name for v in shared.expand()][:4] == ["base-s0", "base-s1", "noisy-s0", "noisy-s1"]


@pytest.mark.parametrize(
    ("seeds", "says"),
    [
        ("[1, 1]", "lists 1 twice"),
        ("[-1]", "integers from 0"),
        ("[]", "at least one seed"),
        ("3", "a list of distinct seeds"),
        ("[5, 6]", "leaves out the sweep's seeds [0]"),  # it would pair with no other variant
    ],
)
def test_a_variants_own_seeds_are_checked_at_their_line(tmp_path, seeds, says):
    path = write(tmp_path, f"name: few\nvariants:\n  a: {{}}\n  b:\n    seeds: {seeds}\n")
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    (problem,) = caught.value.problems
    assert problem.field == "variants.b.seeds" and says in problem.message
    assert problem.line == 5


def test_a_run_named_like_another_variants_seed_is_refused(tmp_path):
    """Own seeds name a variant's runs `<variant>-s<seed>` in a one-seed sweep too."""
    path = write(
        tmp_path,
        "name: few\nvariants:\n  x: {seeds: [0, 1]}\n  x-s1: {model.arch: cross_attention}\n",
    )
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    (problem,) = caught.value.problems
    assert "run name 'x-s1' is also variant 'x'" in problem.message and problem.line == 3


def test_a_tuning_seed_that_is_a_variants_own_is_refused(tmp_path):
    path = write(
        tmp_path,
        """name: few
variants:
  a: {}
  b: {seeds: [0, 5]}
tune: {variants: [a], values: {train.stage2.lr: [0.001, 0.003]}, seeds: [5]}
""",
    )
    with pytest.raises(SweepError, match=r"\[5\] are seeds of the study too"):
        load_sweep(path)


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
        ("name: x\nscale: huge\n", "unknown scale preset 'huge'; allowed: paper, small, tiny, toy"),
        ("name: x\nscale: paper\n", "path 'weights/vicuna-7b' does not exist"),
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


def test_an_included_scale_section_merges_with_the_including_files(tmp_path):
    """A data recipe included for the paper scale and the file's own paper-scale weights both
    apply (sweeps/paper.yaml and sweeps/recipes/lynx-paper-data.yaml)."""
    (tmp_path / "recipe.yaml").write_text("""
scales:
  paper:
    base: {train.stage1.steps: 7, data.prompts.length_instruction_rate: 0.5}
    variants: {b: {data.prompts.mode: single}}
""")
    spec = load_sweep(
        write(
            tmp_path,
            """
include: recipe.yaml
name: child
variants: {a: {}, b: {}}
scales:
  paper:
    base: {train.stage1.steps: 9}
    variants: {a: {model.adapters.enabled: false}}
""",
        ),
        check_paths=False,
        scale="paper",
    )
    a, b = (v.config for v in spec.expand())
    assert a.train.stage1.steps == 9  # the including file wins
    assert a.data.prompts.length_instruction_rate == 0.5  # the included section applies
    assert b.data.prompts.mode == "single" and not a.model.adapters.enabled


def test_include_cycles_and_missing_includes_are_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\nname: b\n")
    with pytest.raises(SweepError, match=r"include cycle: a.yaml → b.yaml → a.yaml"):
        load_sweep(tmp_path / "a.yaml")
    with pytest.raises(SweepError, match="no such file 'nope.yaml'"):
        load_sweep(write(tmp_path, "include: nope.yaml\nname: x\n"))


def lines_of(path, problem) -> str:
    return path.read_text().splitlines()[problem.line - 1]


def test_paper_sweep_plans_without_weights_but_needs_them_to_run(tmp_path, monkeypatch):
    paper = REPO / "sweeps" / "paper.yaml"
    monkeypatch.chdir(tmp_path)  # relative weight paths resolve here, where there are none
    assert load_sweep(paper).expand()  # the toy study needs no weights
    names = [v.name for v in load_sweep(paper, check_paths=False, scale="paper").expand()]
    assert names[0] == "lynx-s0" and "w-cross-attn-trainable-llm-s2" in names
    with pytest.raises(SweepError) as caught:
        load_sweep(paper, scale="paper")
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {
        "base.model.llm.path",
        "base.model.vision.checkpoint",
        "variants.w-llama.model.llm.path",
        *(f"base.eval.{b}.path" for b in ("openvqa_image", "openvqa_video", "mme", "owleval")),
        "base.data.train_files",  # the data recipe's converted files (its own file's lines)
    }  # each missing path once, at the line that sets it: in the paper scale's section
    recipe = problems["base.data.train_files"]
    assert recipe.line.file.endswith("lynx-paper-data.yaml") and "python -m ablations data" in (
        recipe.message
    )
    assert "MME_Benchmark_release_version" in lines_of(paper, problems["base.eval.mme.path"])
    lines = paper.read_text().splitlines()
    assert "weights/vicuna-7b" in lines[problems["base.model.llm.path"].line - 1]
    assert "weights/llama-7b" in lines[problems["variants.w-llama.model.llm.path"].line - 1]
    assert "or change the path" in problems["base.model.llm.path"].message


def test_the_paper_study_changes_one_thing_per_variant_with_seeds():
    for scale in ("toy", "paper"):
        spec = load_sweep(REPO / "sweeps" / "paper.yaml", check_paths=False, scale=scale)
        variants = spec.expand()
        groups = list(dict.fromkeys(v.group for v in variants))
        axes = load_sweep(REPO / "sweeps" / "axes.yaml", check_paths=False, scale=scale)
        others = {v.group for v in axes.expand()} - {"lynx"}
        assert len(groups) >= 10 and len(spec.seeds) >= 3 and spec.baseline == "lynx"
        assert len(set(groups) | others) >= 20  # the study's other axes: sweeps/axes.yaml
        rows = {v.group: v.paper_row for v in variants if v.paper_row}
        assert rows == {
            "lynx": "Lynx",
            "w-llama": "w/ LLaMA",
            "w-o-diverse-prompts": "w/o diverse prompts",
            "w-large-scale-noisy-data": "w/ large-scale noisy data",
            "w-cross-attn": "w/ cross-attn",
            "w-cross-attn-trainable-llm": "w/ cross-attn & trainable LLM",
            "w-o-high-resolution": "w/o high-resolution",
        }
        base = {v.seed: v.config.model_dump() for v in variants if v.group == "lynx"}
        for v in variants:  # every variant differs from lynx of its seed, and only there
            if v.group != "lynx" and v.seed in base:  # (a variant's own extra seeds aside)
                assert v.config.model_dump() != base[v.seed], v.name
        assert {v.seed for v in variants if v.group != "lynx"} >= set(base)
    toy = {v.group: v.config for v in load_sweep(REPO / "sweeps" / "paper.yaml").expand()}
    paper = {
        v.group: v.config
        for v in load_sweep(REPO / "sweeps/paper.yaml", check_paths=False, scale="paper").expand()
    }
    # the paper's ratios at toy scale: 420/224 px = 60/32 px, 32 tokens of 900 = 8 of 225
    assert toy["lynx"].model.vision.image_size / toy[
        "w-o-high-resolution"
    ].model.vision.image_size == (
        paper["lynx"].model.vision.image_size / paper["w-o-high-resolution"].model.vision.image_size
    )
    assert (toy["lynx"].model.vision.image_size // toy["lynx"].model.vision.patch_size) ** 2 == 225
    assert paper["w-llama"].model.llm.path.name == "llama-7b"
    assert toy["w-llama"].model.llm.toy_base == "llama" and toy["w-llama"].model.llm.path is None


def test_a_scale_section_is_laid_over_the_file_at_that_scale(tmp_path):
    path = write(
        tmp_path,
        """name: two
base: {model.adapters.enabled: true}
variants:
  lynx: {paper_row: Lynx}
  low-res: {model.resampler.depth: 2}
baseline: lynx
scales:
  toy:
    base: {model.vision.image_size: 64}
    variants: {low-res: {model.vision.image_size: 32}}
    seeds: [3, 4]
  paper:
    variants:
      low-res: {model.vision.image_size: 224}
    resources: {gpus: 1}
""",
    )
    assert load_sweep(path).seeds == [3, 4]  # seeds are cheap at toy scale, GPU-hours at paper
    toy = {v.group: v for v in load_sweep(path).expand()}
    assert toy["lynx"].config.model.vision.image_size == 64 and toy["lynx"].paper_row == "Lynx"
    low = toy["low-res"].config.model
    assert (low.vision.image_size, low.resampler.depth, low.adapters.enabled) == (32, 2, True)
    spec = load_sweep(path, check_paths=False, scale="paper")
    paper = {v.group: v for v in spec.expand()}
    assert paper["low-res"].config.model.vision.image_size == 224
    assert paper["lynx"].config.model.vision.image_size == 420  # the preset's: toy's 64 stays
    assert spec.resources.gpus == 1 and spec.experiment == "two@paper"
    assert spec.seeds == [0] and {v.seed for v in spec.expand()} == {0}  # the file's own
    assert load_sweep(path).experiment == "two"  # the file's own scale keeps its name
    tiny = {v.group: v for v in load_sweep(path, scale="tiny").expand()}
    assert tiny["low-res"].config.model.vision.image_size == 32  # tiny is toy, smaller
    assert tiny["low-res"].config.train.stage2.steps == 20


def test_a_mapping_value_is_replaced_whole_never_merged(tmp_path):
    """A mixture lists every task it trains: laid over another, it replaces it."""
    path = write(
        tmp_path,
        """name: mix
base: {data.mixture: {caption: 1, color: 1}}
variants:
  a: {}
  b: {data: {mixture: {count: 2}}}
scales:
  toy: {base: {data.mixture: {caption: 1, shape: 1}}}
""",
    )
    mixtures = {v.group: v.config.data.mixture for v in load_sweep(path).expand()}
    assert mixtures == {"a": {"caption": 1, "shape": 1}, "b": {"count": 2}}


def test_a_toy_field_in_the_base_is_fine_where_some_variant_uses_it(tmp_path):
    weights = llm_folder_stub(tmp_path / "llm")
    text = "name: x\nbase: {model.llm.toy_base: llama}\nvariants:\n  toy: {}\n"
    text += f"  mine: {{model.llm.path: {weights}}}\n"
    variants = {v.group: v.config for v in load_sweep(write(tmp_path, text)).expand()}
    assert variants["toy"].model.llm.toy_base == "llama"
    with pytest.raises(SweepError, match="base.model.llm.toy_base: has no effect"):
        load_sweep(write(tmp_path, text.replace("toy: {}", f"toy: {{model.llm.path: {weights}}}")))


def test_an_unknown_scale_on_the_command_line_is_named_as_such(tmp_path):
    with pytest.raises(
        SweepError, match=r"--scale: unknown scale 'huge'; allowed: paper, small, tiny"
    ):
        load_sweep(write(tmp_path, "name: x\n"), scale="huge")


@pytest.mark.parametrize(
    ("text", "field", "line", "needle"),
    [
        (  # a scale-specific value is reported at the line of the section that sets it
            "name: x\nvariants:\n  a: {}\n  b: {model.arch: cross_attention}\nscales:\n"
            "  toy:\n    variants:\n      b: {model.resampler.num_queries: 0}\n",
            "variants.b.model.resampler.num_queries",
            8,
            "greater than 0",
        ),
        (
            "name: x\nvariants:\n  a: {}\nscales:\n  toy:\n    variants: {c: {}}\n",
            "scales.toy.variants.c",
            6,
            "declare it under `variants:`",
        ),
        ("name: x\nscales:\n  huge: {}\n", "scales.huge", 3, "allowed: paper, small, tiny, toy"),
        ("name: x\nscales:\n  toy: {name: y}\n", "scales.toy.name", 3, "a scale section"),
        (
            "name: x\nvariants:\n  a: {paper_row: w/ cross attn}\n",
            "variants.a.paper_row",
            3,
            "'w/ cross-attn'",
        ),
        (  # two variants that are one experiment: at this scale they differ in nothing
            "name: x\nvariants:\n  a: {}\n  b: {}\n",
            "variants.b",
            4,
            "'a' and 'b' are the same experiment",
        ),
        (  # a toy-only field beside real weights changes nothing
            "name: x\nscale: paper\naxes:\n  model.llm.toy_base: [llama, vicuna]\n",
            "axes.model.llm.toy_base",
            4,
            "has no effect (model.llm.path is set",
        ),
        (  # the toy LLM's sizes and pretraining do nothing beside a real LLM
            "name: x\nscale: paper\nvariants:\n  a: {}\n  b: {model.llm.layers: 16}\n",
            "variants.b.model.llm.layers",
            5,
            "the LLM is that folder's",
        ),
        (
            "name: x\nscale: paper\nvariants:\n  a: {}\n  c: {train.bases.steps: 5}\n",
            "variants.c.train.bases.steps",
            5,
            "no toy LLM is pretrained",
        ),
        (  # another connector's settings do nothing beside the resampler
            "name: x\naxes:\n  model.mlp.dim: [32, 64]\n",
            "axes.model.mlp.dim",
            3,
            "has no effect (model.connector is not mlp: no stage reads model.mlp)",
        ),
        (  # how the work is done changes no result: still one experiment
            "name: x\nvariants:\n  a: {}\n  b: {train.feature_cache: false}\n",
            "variants.b",
            4,
            "'a' and 'b' are the same experiment",
        ),
        (
            "name: x\nvariants:\n  a: {paper_row: [Lynx]}\n",
            "variants.a.paper_row",
            3,
            "is not a row of the paper",
        ),
        (
            "name: x\nvariants:\n  a: {}\n  b: {compare_to: c, model.arch: cross_attention}\n",
            "variants.b.compare_to",
            4,
            "choose one of: a",
        ),
        (  # every section is checked, not only the one of the scale that runs
            "name: x\nvariants:\n  a: {}\nscales:\n  paper:\n    bse: {}\n",
            "scales.paper.bse",
            6,
            "a scale section may set",
        ),
        (
            "name: x\nvariants:\n  a: {}\nscales:\n  toy:\n    variants: {b: {}}\n",
            "scales.toy.variants.b",
            6,
            "(variants: a)",
        ),
    ],
)
def test_scales_paper_rows_and_silent_duplicates_are_checked(tmp_path, text, field, line, needle):
    with pytest.raises(SweepError) as caught:
        load_sweep(write(tmp_path, text), check_paths=False)
    problems = {p.field: p for p in caught.value.problems}
    assert field in problems, caught.value
    assert problems[field].line == line and needle in problems[field].message


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


def test_the_readme_sweep_example_validates_at_both_scales(tmp_path):
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    blocks = readme.split("```yaml\n")[1:]
    example = next(b.split("```")[0] for b in blocks if b.lstrip().startswith("# Question"))
    path = tmp_path / "arch.yaml"
    path.write_text("".join(line for line in example.splitlines(True) if "include:" not in line))
    for scale in ("toy", "paper"):
        variants = load_sweep(path, check_paths=False, scale=scale).expand()
        assert "prefix-no-adapters-low-short" in {v.group for v in variants}
