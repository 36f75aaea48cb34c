"""The findings' rules: which variants a claim compares, and how its verdict is reached."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ablations.results.calibration import Noise, SimulatedStudy, _draw, chosen_groups
from ablations.results.findings import Claim, Comparison, Finding, _corrected, findings
from ablations.results.findings_markdown import findings_markdown
from ablations.results.selection import caption_quality, vqa_odds
from ablations.results.stats import NOTHING, Components, Estimate
from ablations.sweep.spec import load_sweep
from lynx_core.config import VariantConfig

PAPER_ROWS = {  # the paper's ablation rows, and the claim each must be tested by
    "w-llama": "6a",
    "w-o-diverse-prompts": "3a",
    "w-large-scale-noisy-data": "2",
    "w-cross-attn": "5a",
    "w-cross-attn-trainable-llm": "5a",
    "w-o-high-resolution": "6b",
}


def _difference(value: float, se: float, seeds: int = 4) -> Estimate:
    """A paired difference with a t interval of `seeds - 1` degrees of freedom."""
    half = {2: 12.706, 3: 4.303, 4: 3.182}[seeds] * se
    parts = Components(seed=se**2, seeds=seeds, seed_sd=se * math.sqrt(seeds))
    return Estimate(value, value - half, value + half, seeds, "t", se, seeds - 1, parts=parts)


def _claim(rule: str, *deltas: Estimate, claim_id: str = "x") -> Claim:
    comparisons = [
        Comparison(f"v{i}", "base", NOTHING, NOTHING, d, -1) for i, d in enumerate(deltas)
    ]
    return Claim(claim_id, "text", "metric", rule, comparisons)


@pytest.mark.parametrize("scale", ["toy", "paper"])
def test_every_paper_row_is_selected_for_its_claim(scale):
    """At both scales, whatever else a variant sets where it changes no result (DeepSpeed for
    the trainable 7B LLM at paper scale), each of the paper's rows is tested by its claim."""
    spec = load_sweep("sweeps/paper.yaml", check_paths=False, scale=scale)
    study = SimulatedStudy(spec, pd.DataFrame(), None, spec.expand())
    chosen = chosen_groups(study)
    for variant, claim in PAPER_ROWS.items():
        assert variant in chosen[claim], (scale, variant, claim, chosen[claim])
    assert chosen["5b"] == ["w-cross-attn"]  # the LLM frozen only
    # the VQA share at fixed steps, apart from the amount of training
    assert chosen["4a"] == ["caption-heavy"] and chosen["4b"] == ["vqa-heavy"]
    for step_variant in ("less-vqa-training", "more-vqa-training"):
        assert not any(step_variant in found for found in chosen.values())
    # the findings of a study fabricated at this scale compare every row under its claim
    draws = _draw(study.variants, {}, Noise(), np.random.default_rng(0))
    fabricated = SimulatedStudy(spec, pd.DataFrame(), None, study.variants, draws=draws)
    compared = {
        claim.id: {c.variant for c in claim.comparisons}
        for finding in findings(fabricated)
        for claim in finding.claims
    }
    for variant, claim in PAPER_ROWS.items():
        assert variant in compared[claim], (scale, variant, claim, compared[claim])
    assert all(f.verdict != "not tested" for f in findings(fabricated))
    # findings.md says what the baseline trained on: the paper's datasets at paper scale
    text = findings_markdown(fabricated, findings(fabricated))
    data = "Data: `lynx` aligns on blipcapfilt, cc12m, cc3m, sbu and is instruction-tuned on ocrvqa"
    assert (data in text) == (scale == "paper")
    assert ("lynx-paper-data.yaml" in text) == (scale == "paper")


def test_the_balance_variants_change_the_vqa_share_and_nothing_else():
    """Claim 4's variants train the baseline's own tasks at its steps and rates; only the
    VQA tasks' odds move, well past the threshold either way (0.4× and 4×)."""
    spec = load_sweep("sweeps/paper.yaml", check_paths=False)
    configs = {v.group: v.config for v in spec.expand() if v.seed == spec.seeds[0]}
    base = configs["lynx"]
    for group, lower in (("caption-heavy", True), ("vqa-heavy", False)):
        cfg = configs[group]
        assert cfg.train == base.train and cfg.model == base.model
        assert cfg.data.mixture != base.data.mixture
        assert cfg.data.model_copy(update={"mixture": base.data.mixture}) == base.data
        assert {t for t, r in cfg.data.mixture.items() if r} == {
            t for t, r in base.data.mixture.items() if r
        }
        ratio = vqa_odds(cfg) / vqa_odds(base)
        assert ratio <= 1 / 2 if lower else ratio >= 2, (group, ratio)


def test_a_declared_claim_brings_its_variant_in(tmp_path):
    path = tmp_path / "declared.yaml"
    path.write_text(
        "name: declared\nbaseline: lynx\nseeds: [0, 1]\nvariants:\n  lynx: {}\n"
        "  odd: {claims: [4a], model.resampler.depth: 3}\n"
    )
    spec = load_sweep(path)
    chosen = chosen_groups(SimulatedStudy(spec, pd.DataFrame(), None, spec.expand()))
    assert chosen["4a"] == ["odd"] and not any("odd" in v for k, v in chosen.items() if k != "4a")


def test_a_declared_claim_must_be_one_of_the_findings(tmp_path):
    from ablations.sweep.spec import SweepError

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nvariants:\n  lynx: {}\n  odd: {claims: [7z]}\n")
    with pytest.raises(SweepError, match="claims"):
        load_sweep(path)


def test_task_roles_come_from_the_registry_and_the_files_declarations():
    world = VariantConfig()
    assert vqa_odds(world) == pytest.approx(9 / 2)  # caption and text are not VQA
    data = {
        "train_files": [{"path": __file__, "task": "mine", "role": "vqa"}],
        "mixture": {"caption": 1, "color": 1, "mine": 2},
        "prompts": {"held_out_task": None},
    }
    assert vqa_odds(VariantConfig(data=data)) == pytest.approx(3 / 1)
    undeclared = {**data, "train_files": [{"path": __file__, "task": "mine"}]}
    assert vqa_odds(VariantConfig(data=undeclared)) is None  # unknown, never counted as VQA


def test_caption_files_count_by_their_declared_quality():
    files = [{"format": "webdataset", "path": "/data/cc-{0..9}.tar", "quality": "noisy"}]
    noisy = VariantConfig(data={"captions": {"world_ratio": 0, "files": files}})
    assert caption_quality(noisy) == "noisy"
    clean = [{**files[0], "quality": "clean"}]
    assert caption_quality(VariantConfig(data={"captions": {"files": clean}})) == "clean"
    unsure = [{**files[0], "quality": None}]
    assert caption_quality(VariantConfig(data={"captions": {"files": unsure}})) is None


def test_a_claim_about_every_variant_needs_all_and_one_contrary_refutes_it():
    agree, null = _difference(-5.0, 0.5), _difference(+0.2, 0.5)
    claim = _claim("every", agree, null)
    assert claim.raw_p(-1) == 1.0  # one comparison leans the other way: not all support it
    both = _claim("every", agree, _difference(-4.0, 0.5))
    assert both.raw_p(-1) == pytest.approx(max(agree.p_value, _difference(-4.0, 0.5).p_value))
    contrary = _claim("every", agree, _difference(+4.0, 0.5))
    assert contrary.raw_p(+1) == pytest.approx(2 * _difference(4.0, 0.5).p_value)  # Bonferroni
    assert _claim("any", agree, null).raw_p(-1) == pytest.approx(2 * agree.p_value)


def test_the_veto_is_at_plain_95_percent_and_holm_spans_the_study():
    supported = _claim("any", _difference(-6.0, 0.5), _difference(+2.0, 0.5), claim_id="a")
    (vetoed,) = _corrected([supported]).values()
    assert vetoed.comparisons[1].verdict == "disagrees" and vetoed.verdict == "inconclusive"
    weak = _claim("every", _difference(-2.0, 0.5), claim_id="b")  # p ≈ 0.028 alone
    (alone,) = _corrected([weak]).values()
    assert alone.verdict == "agrees"
    others = [_claim("every", _difference(-0.1, 0.5), claim_id=str(i)) for i in range(3)]
    corrected = _corrected([weak, *others])
    assert corrected[id(weak)].verdict == "inconclusive"  # Holm over four claims: p × 4


def test_no_verdict_from_one_seed_and_a_conclusion_says_how_much_was_tested():
    one_seed = Estimate(-9.0, -12.0, -6.0, 200, "bootstrap")  # one seed's questions
    (few,) = _corrected([_claim("every", one_seed)]).values()
    assert few.comparisons[0].verdict == "too few seeds" and few.verdict == "too few seeds"
    agreeing = _corrected([_claim("every", _difference(-6.0, 0.5))])
    finding = Finding(9, "text", [*agreeing.values(), Claim("y", "t", "m", "every", [])])
    assert finding.summary == "agrees (1 of 2 claims tested)"


def test_a_claim_about_every_variant_is_not_supported_by_the_ones_that_finished():
    """A chosen variant without a finished run is named, and the claim it belongs to cannot
    be supported as a claim about every such variant (it can still be refuted)."""
    import numpy as np

    from ablations.results.calibration import Noise, _draw
    from ablations.results.findings import findings

    spec = load_sweep("sweeps/paper.yaml", check_paths=False)
    variants = spec.expand()
    truth = {("w-cross-attn", "openvqa/overall"): -30.0}
    draws = _draw(variants, truth, Noise(), np.random.default_rng(0))
    draws = {k: v for k, v in draws.items() if k[0] != "w-cross-attn-trainable-llm"}
    study = SimulatedStudy(spec, pd.DataFrame(), None, variants, draws=draws)
    (claim, _) = findings(study)[4].claims
    assert claim.missing == ("w-cross-attn-trainable-llm",)
    assert "w-cross-attn-trainable-llm" in claim.note
    assert claim.comparisons[0].verdict == "agrees" and claim.raw_p(-1) == 1.0
    assert claim.verdict == "inconclusive"
