"""The stage-graph searcher hands out runs only once their parent is done."""

from __future__ import annotations

from ray.tune.search import Searcher

from ablations.execute.dag import StageGraphSearcher
from ablations.planning.plan import make_plan
from ablations.sweep.variant import Variant
from lynx_core.config import VariantConfig, nest


def two_variants_plan():
    variants = [
        Variant(name, VariantConfig.model_validate(nest({"model.arch": arch})), {}, 0)
        for name, arch in (("p", "prefix"), ("x", "cross_attention"))
    ]
    return make_plan(variants)


def test_runs_start_after_their_parents_and_the_search_then_ends():
    plan = two_variants_plan()
    searcher = StageGraphSearcher(plan.runs.values())
    assert searcher.suggest("t0") == {"run": plan.run_of("p", "bases").id}
    assert searcher.suggest("t1") is None  # both stage 1 runs wait for the bases
    searcher.on_trial_complete("t0")
    trials = {searcher.suggest(t)["run"]: t for t in ("t2", "t3")}
    assert set(trials) == {r.id for r in plan.level("stage1")}
    searcher.on_trial_complete(trials[plan.run_of("p", "stage1").id])
    assert searcher.suggest("t4") == {"run": plan.run_of("p", "stage2").id}
    assert searcher.suggest("t5") is None  # x's stage 1 is still running
    searcher.on_trial_complete(trials[plan.run_of("x", "stage1").id])
    assert searcher.suggest("t5") == {"run": plan.run_of("x", "stage2").id}
    searcher.on_trial_complete("t4"), searcher.on_trial_complete("t5")
    evals = {searcher.suggest("t6")["run"], searcher.suggest("t7")["run"]}
    assert evals == {r.id for r in plan.level("eval")}
    assert searcher.suggest("t8") == Searcher.FINISHED


def test_a_failed_run_blocks_only_its_descendants():
    plan = two_variants_plan()
    stored_bases = plan.run_of("p", "bases").id
    todo = [r for r in plan.runs.values() if r.stage != "bases"]
    searcher = StageGraphSearcher(todo, already_done={stored_bases})
    suggested = [searcher.suggest("a")["run"], searcher.suggest("b")["run"]]
    assert set(suggested) == {r.id for r in plan.level("stage1")}
    failed = plan.run_of("p", "stage1").id
    searcher.on_trial_complete("a" if suggested[0] == failed else "b", error=True)
    searcher.on_trial_complete("b" if suggested[0] == failed else "a")
    assert searcher.suggest("c") == {"run": plan.run_of("x", "stage2").id}
    searcher.on_trial_complete("c")
    assert searcher.suggest("d") == {"run": plan.run_of("x", "eval").id}
    assert searcher.suggest("e") == Searcher.FINISHED
    assert searcher.failed >= {plan.run_of("p", s).id for s in ("stage1", "stage2", "eval")}
