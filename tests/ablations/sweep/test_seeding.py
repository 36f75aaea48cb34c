"""Seeds where they pay (`stage1_per_seed: false`): a variant's seeds share one stage 1 and
vary stage 2 and evaluation, keyed so; the default leaves every key as it was; a variant may
not set the seed the sweep sets; the tables say which variance the intervals carry."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ablations.planning.plan import make_plan
from ablations.results.formatting import interval_note
from ablations.spec import SweepError, load_sweep
from lynx_core.config import VariantConfig
from lynx_core.data.stage_data import sample_seed
from tests.ablations.sweep.test_spec import write

SWEEP = """
name: seeding
seeds: [3, 5, 7]
stage1_per_seed: {shared}
variants:
  a: {{}}
  prompts: {{data.prompts.mode: single}}  # stage 2 only
  steps: {{train.stage1.steps: 11}}  # its own stage 1
"""


def _chains(tmp_path, shared: bool) -> tuple[list, dict]:
    spec = load_sweep(write(tmp_path, SWEEP.format(shared=str(not shared).lower())))
    variants = spec.expand()
    return variants, make_plan(variants, spec.resources.gpus_by_stage()).chains


def test_a_variants_seeds_share_one_stage_1_and_vary_stage_2(tmp_path):
    variants, chains = _chains(tmp_path, shared=True)
    for variant in variants:  # named and paired by its seed, trained at the first for stage 1
        assert variant.name.endswith(f"-s{variant.seed}")
        assert variant.config.train.seed == 3 and variant.config.train.stage2_seed == variant.seed
        assert variant.config.train.seed_of("stage2") == variant.seed
    for group in ("a", "prompts", "steps"):
        stage1 = {chains[f"{group}-s{s}"]["stage1"] for s in (3, 5, 7)}
        stage2 = {chains[f"{group}-s{s}"]["stage2"] for s in (3, 5, 7)}
        assert len(stage1) == 1 and len(stage2) == 3, group
    assert chains["prompts-s5"]["stage1"] == chains["a-s7"]["stage1"]  # stage 2 only: shared
    assert chains["steps-s5"]["stage1"] != chains["a-s5"]["stage1"]
    # a variant's first seed trains stage 2 as the default does: only its key says which way
    per_seed, own = _chains(tmp_path, shared=False)
    assert all(v.config.train.stage2_seed is None for v in per_seed)
    assert len({own[f"a-s{s}"]["stage1"] for s in (3, 5, 7)}) == 3


def test_stage_2_draws_its_sample_and_batches_with_its_own_seed():
    shared = VariantConfig(train={"seed": 3, "stage2_seed": 5})
    alone = VariantConfig(train={"seed": 5})
    assert shared.train.seed_of("stage2") == alone.train.seed_of("stage2") == 5
    assert shared.train.seed_of("stage1") == 3
    assert sample_seed(shared.data, shared.train.seed_of("stage2")) == sample_seed(
        alone.data, alone.train.seed
    )


def test_a_sweep_may_not_set_the_seed_its_seeds_set(tmp_path):
    bad = SWEEP.format(shared="false").replace("a: {}", "a: {train.stage2_seed: 4}")
    bad += "axes: {train.stage2_seed: [1, 2]}\n"
    with pytest.raises(SweepError) as caught:
        load_sweep(write(tmp_path, bad))
    found = {p.field: p for p in caught.value.problems}
    assert set(found) == {"variants.a.train.stage2_seed", "axes.train.stage2_seed"}
    assert found["variants.a.train.stage2_seed"].line == 6
    assert "sets train.stage2_seed, which `seeds:` sets" in found["axes.train.stage2_seed"].message
    both = SWEEP.format(shared="false") + "bases_per_seed: true\n"
    with pytest.raises(SweepError, match="its stage 1 cannot be shared"):
        load_sweep(write(tmp_path, both))


def test_tuning_candidates_tune_stage_2_on_their_variants_stage_1(tmp_path):
    tune = "{variants: [a], values: {train.stage2.lr: [0.001, 0.003]}, metric: openvqa/overall}"
    tuned = SWEEP.format(shared="false") + f"tune: {tune}\n"
    spec = load_sweep(write(tmp_path, tuned))
    candidates = spec.tuning().expand()
    chains = make_plan(candidates + spec.expand(), spec.resources.gpus_by_stage()).chains
    assert {chains[c.name]["stage1"] for c in candidates} == {chains["a-s3"]["stage1"]}
    assert len({chains[c.name]["stage2"] for c in candidates}) == 2


@pytest.mark.parametrize("shared", [True, False])
def test_the_tables_say_which_variance_the_intervals_carry(tmp_path, shared):
    spec = load_sweep(write(tmp_path, SWEEP.format(shared=str(not shared).lower())))
    study = SimpleNamespace(spec=spec, seeds=[3, 5, 7], seed_counts=[3], judges=[], baseline="a")
    note = interval_note(study)
    assert ("leave stage 1's seed-to-seed variance out" in note) == shared
    assert "over 3 seeds and the evaluation items" in note
    study.seed_counts = [2, 3]  # a variant with its own seeds: the range, not the most
    note = interval_note(study)
    assert "over 2 to 3 seeds and the evaluation items" in note
    assert "its Δ over the seeds both sides ran" in note


def test_repeated_seeds_are_each_named_once_and_a_long_list_shortly(tmp_path):
    """true is not 1 (each repeat named once, in order); 30 repeated seeds name 10 and count
    the rest, in a time linear in the list (a script's 20,000 seeds: the fault suite)."""
    seeds = ", ".join(map(str, [*range(30), *range(30)]))
    with pytest.raises(SweepError) as caught:
        load_sweep(write(tmp_path, f"name: x\nvariants:\n  a: {{}}\nseeds: [{seeds}]\n"))
    (problem,) = caught.value.problems
    assert (
        problem.message
        == "lists 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 20 more twice: one run, two names"
    )
    axis = "name: x\naxes: {model.adapters.enabled: [true, 1, true, 1]}\n"
    with pytest.raises(SweepError, match=r"lists True, 1 twice"):
        load_sweep(write(tmp_path, axis))


def test_a_scale_sections_seeds_are_checked_at_their_line(tmp_path):
    text = "name: x\nvariants:\n  a: {}\nseeds: [0, 1]\nscales:\n  toy:\n    seeds: [2, 2]\n"
    with pytest.raises(SweepError) as caught:
        load_sweep(write(tmp_path, text))
    (problem,) = caught.value.problems
    assert (problem.line, problem.message) == (7, "lists 2 twice: one run, two names")
    paper = load_sweep(write(tmp_path, text.replace("[2, 2]", "[2, 3]")), False, scale="paper")
    assert paper.seeds == [0, 1]  # the toy section's seeds are toy's alone
