"""Fair tuning: candidates on the validation split, the choice, and the sweep run with it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ablations.planning.plan import make_plan
from ablations.sweep.spec import SweepError, load_sweep
from ablations.sweep.tuning import at_edge, choices, edge_note

SWEEP = """name: tuned
baseline: lynx
seeds: [0, 1]
variants:
  lynx: {}
  cross: {model.arch: cross_attention}
tune:
  variants: [lynx, cross]
  values: {train.stage2.lr: [0.001, 0.003, 0.01]}
  metric: openvqa/overall
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tuned.yaml"
    path.write_text(SWEEP)
    return load_sweep(path)


def test_the_candidates_are_each_variant_with_each_value_on_the_validation_split(spec):
    candidates = spec.tuning().expand()
    assert [v.name for v in candidates] == [
        f"{v}.tune{i}" for v in ("lynx", "cross") for i in range(3)
    ]  # a single tuning seed, so no '-s<seed>'
    assert {v.seed for v in candidates} == {2}  # apart from the study's seeds 0 and 1
    assert all(v.config.eval.split == "validation" for v in candidates)
    assert [v.config.train.stage2.lr for v in candidates[:3]] == [0.001, 0.003, 0.01]
    assert candidates[3].config.model.arch == "cross_attention"
    assert all(v.config.train.stage2.steps == 800 for v in candidates)  # nothing else moves


def test_several_tuning_seeds_follow_every_seed_of_the_study(tmp_path):
    """One seed's ranking of nearby rates is its luck as much as theirs."""
    path = tmp_path / "two.yaml"
    path.write_text(SWEEP.replace("  metric: openvqa/overall", "  seed_count: 2"))
    spec = load_sweep(path)
    assert spec.tuning_seeds == [2, 3]
    candidates = spec.tuning().expand()
    assert len(candidates) == 12 and candidates[0].name == "lynx.tune0-s2"
    assert {v.seed for v in candidates} == {2, 3}


def test_the_sweep_runs_with_each_variants_choice_and_shares_its_stages(spec):
    chosen = spec.with_choices({"lynx": {"train.stage2.lr": 0.01}})
    variants = {v.name: v for v in chosen.expand()}
    assert variants["lynx-s0"].config.train.stage2.lr == 0.01
    assert variants["lynx-s0"].overrides == {"train.stage2.lr": 0.01}  # shown in the tables
    assert variants["cross-s1"].config.train.stage2.lr == 0.003  # no choice yet: as written
    plan = make_plan(spec.tuning().expand())
    stage1 = {plan.chains[f"lynx.tune{i}"]["stage1"] for i in range(3)}
    assert len(stage1) == 1  # the candidates differ from stage 2 on: one stage-1 run
    assert [g for g in ("lynx", "cross") if spec.waits_on_choice(g)] == ["lynx", "cross"]


def test_a_variant_that_does_not_tune_takes_the_tuned_baselines_choice(tmp_path):
    """It changes one thing against the baseline as the baseline runs, its rate included; an
    axis variant too, so none of them runs before the choice is made (the driver runs only
    what waits on no choice while the candidates train)."""
    path = tmp_path / "inherit.yaml"
    path.write_text(
        SWEEP.replace(
            "  cross: {model.arch: cross_attention}",
            "  cross: {model.arch: cross_attention}\n  deep: {model.resampler.depth: 2}\n"
            "  fixed: {model.resampler.depth: 3, train.stage2.lr: 0.02}\n"
            "axes: {model.resampler.num_queries: [4]}",
        )
    )
    spec = load_sweep(path)
    groups = {v.group for v in spec.expand()}
    (axis,) = groups - {"lynx", "cross", "deep", "fixed"}  # named after its value
    assert all(spec.waits_on_choice(g) for g in groups)
    assert {g: spec.chooser(g) for g in groups} == {
        "lynx": "lynx", "cross": "cross", "deep": "lynx", "fixed": "lynx", axis: "lynx"
    }  # fmt: skip
    found = {v.group: v.config.train.stage2.lr for v in spec.with_choices(
        {"lynx": {"train.stage2.lr": 0.01}, "cross": {"train.stage2.lr": 0.001}}
    ).expand()}  # fmt: skip
    assert found == {"lynx": 0.01, "cross": 0.001, "deep": 0.01, "fixed": 0.02, axis: 0.01}


def test_with_an_untuned_baseline_only_the_tuned_variants_wait_on_a_choice(tmp_path):
    path = tmp_path / "apart.yaml"
    path.write_text(SWEEP.replace("variants: [lynx, cross]", "variants: [cross]"))
    spec = load_sweep(path)
    assert not spec.waits_on_choice("lynx") and spec.chooser("lynx") is None
    assert spec.waits_on_choice("cross") and spec.chooser("cross") == "cross"


def test_each_variant_chooses_its_best_candidate_once_every_one_is_scored(spec):
    scores = pd.DataFrame(
        {
            "variant": ["lynx"] * 3 + ["cross"] * 3,
            "candidate": [0, 1, 2] * 2,
            "score": [40.0, 55.0, 50.0, 30.0, 20.0, math.nan],
            "complete": [True] * 5 + [False],
        }
    )
    assert choices(scores, spec) == {"lynx": {"train.stage2.lr": 0.003}}  # cross: not yet
    diverged = scores.assign(failed=[False, True, False, False, False, True], complete=True)
    assert choices(diverged, spec) == {
        "lynx": {"train.stage2.lr": 0.01},  # its best rate failed to train: the next one
        "cross": {"train.stage2.lr": 0.001},
    }


def test_a_choice_at_the_edge_of_its_grid_is_said_with_the_way_to_extend_it(spec, tmp_path):
    """The toy paper sweep's three architectures all chose 0.001 from 0.001-0.01; 0.0003
    then scored higher for each. A choice at an edge is not yet a fair comparison."""
    edges = at_edge({"lynx": {"train.stage2.lr": 0.001}, "cross": {"train.stage2.lr": 0.01}}, spec)
    assert len(edges) == 2
    assert "lynx chose train.stage2.lr=0.001, the smallest" in edges[0]
    assert "below the grid" in edges[0] and "above the grid" in edges[1]
    assert at_edge({"lynx": {"train.stage2.lr": 0.003}}, spec) == []  # inside: nothing said
    two = tmp_path / "two" / "tuned.yaml"  # two candidates have no inside: nothing to say
    two.parent.mkdir()
    two.write_text(SWEEP.replace("[0.001, 0.003, 0.01]", "[0.001, 0.003]"))
    assert at_edge({"lynx": {"train.stage2.lr": 0.001}}, load_sweep(two)) == []


@pytest.mark.parametrize(
    ("tune", "message"),
    [
        ("{variants: [nobody], values: {train.stage2.lr: [0.1, 0.2]}}", "not a variant"),
        ("{variants: [lynx], values: {train.stage2.lr: [0.1]}}", "at least two candidates"),
        ("{variants: [lynx], values: {train.log_every: [5, 10]}}", "changes no result"),
        ("{variants: [lynx], values: {train.stage2.lr: [0.1, -1]}}", "greater than 0"),
        ("{variants: [lynx], values: {train.stage2.lr: [0.1, 0.2]}, seeds: [1]}", "won on"),
        (
            "{variants: [lynx], values: {train.stage2.lr: [0.1, 0.2]}, seeds: [5], seed_count: 2}",
            "not both",
        ),
        ("{variants: [lynx], values: {train.stage2.lr: [0.1, 0.2]}, seed_count: 0}", "greater"),
        ("{variants: [lynx], values: {train.stage2.lr: [0.001, 0.01, 0.0010]}}", "given twice"),
        (
            "{variants: [lynx], values: {train.stage2.lr: [0.1, 0.2]}, metric: mme/perception}",
            "not measured on the validation split",
        ),
    ],
)
def test_a_bad_tune_section_is_refused_before_compute(tmp_path, tune, message):
    path = tmp_path / "bad.yaml"
    path.write_text(SWEEP.split("tune:")[0] + f"tune: {tune}\n")
    with pytest.raises(SweepError, match=message):
        load_sweep(path)


def test_tuning_md_says_what_the_sweeps_choices_are_at(spec):
    """Read from the sweep with its choices (the study's spec): a sweep read from its file
    has none, which tuning.md says as such rather than 'no choice at an edge'."""
    assert edge_note(spec) == "No variant has chosen yet."
    inside = spec.with_choices({"lynx": {"train.stage2.lr": 0.003}})
    assert edge_note(inside).startswith("No choice is the smallest or largest")
    edge = spec.with_choices(
        {"lynx": {"train.stage2.lr": 0.001}, "cross": {"train.stage2.lr": 0.01}}
    )
    note = edge_note(edge)
    assert note.startswith("**At the grid's edge**: lynx chose train.stage2.lr=0.001")
    assert note.count("; ") == 1 and note.endswith("(add a candidate above it).")
