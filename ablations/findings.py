"""The paper's five conclusions, each tested on this sweep's own variants: `findings.md`.

Every conclusion is a registered test: which variants it compares (chosen by what their
configs change against the baseline, however the sweep wrote it), on which metric, and in which
direction the paper claims the difference goes. A comparison agrees when its 95% interval lies
wholly on the paper's side of 0, disagrees when it lies wholly on the other, and is
inconclusive when it contains 0; a claim agrees when some comparison agrees and none disagrees
(disagrees: the reverse); a conclusion agrees when all its tested claims agree, disagrees when
all disagree, and is inconclusive otherwise. A sweep without such variants has not tested it.
Written from the data every time, never by hand: the toy world may disagree with the paper,
and then the file says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from ablations.reference import BASELINE_ROW, paper_figures
from ablations.stats import CONFIDENCE, Estimate
from ablations.study import Study
from ablations.tables import digits, fmt, fmt_delta, interval_note
from lynx_core.config import VariantConfig

Verdict = Literal["agrees", "disagrees", "inconclusive", "not tested"]


@dataclass(frozen=True)
class Comparison:
    """`variant`'s metric minus `against`'s, and the sign the paper claims for it."""

    variant: str
    against: str
    value: Estimate  # the variant's metric
    reference: Estimate  # what it is compared with
    delta: Estimate
    claim: int  # -1: the paper says lower, +1: higher
    paper: float | None = None  # the paper's published difference, where it has one

    @property
    def verdict(self) -> Verdict:
        if math.isnan(self.delta.value) or self.delta.within_noise:
            return "inconclusive"
        above = self.delta.low > 0  # the whole interval on one side of 0
        return "agrees" if above == (self.claim > 0) else "disagrees"


@dataclass(frozen=True)
class Claim:
    text: str  # what the paper says, as a comparison on one metric
    metric: str
    comparisons: list[Comparison]
    note: str = ""  # e.g. the variants that came close to qualifying, and why they did not

    @property
    def verdict(self) -> Verdict:
        verdicts = {c.verdict for c in self.comparisons}
        if not verdicts:
            return "not tested"
        if "agrees" in verdicts and "disagrees" not in verdicts:
            return "agrees"
        if "disagrees" in verdicts and "agrees" not in verdicts:
            return "disagrees"
        return "inconclusive"


@dataclass(frozen=True)
class Finding:
    number: int
    conclusion: str  # the paper's conclusion, in its words
    claims: list[Claim]

    @property
    def verdict(self) -> Verdict:
        tested = {c.verdict for c in self.claims} - {"not tested"}
        if not tested:
            return "not tested"
        return next(iter(tested)) if len(tested) == 1 else "inconclusive"


# ---- which variants a conclusion compares -------------------------------------------------


def _only(study: Study, group: str, *prefixes: str) -> dict | None:
    """The variant's changes against the baseline if all of them are under `prefixes`."""
    changes = study.differences(group)
    if not changes or any(not k.startswith(prefixes) for k in changes):
        return None
    return changes


def _others(study: Study) -> list[str]:
    return [g for g in study.groups if g != study.baseline]


def _paper_delta(study: Study, group: str, field: str) -> float | None:
    figures = paper_figures()
    row, base = figures.row(study.variant(group).paper_row), figures.row(BASELINE_ROW)
    if row is None or base is None or getattr(row, field) is None:
        return None
    return getattr(row, field) - getattr(base, field)


def family_confidence(comparisons: int) -> float:
    """Each interval's level so that a claim's k comparisons are 95% together (Bonferroni):
    one lucky variant among many cannot make a claim agree."""
    return 1 - (1 - CONFIDENCE) / max(comparisons, 1)


def _against_baseline(study: Study, groups: list[str], metric: str, claim: int) -> list:
    field = {"openvqa/overall": "image_overall", "openvqa_video/overall": "video_overall"}
    tested = [g for g in groups if study.values(g, metric)]
    level = family_confidence(len(tested))
    return [
        Comparison(
            g,
            study.baseline,
            study.estimate(g, metric),
            study.estimate(study.baseline, metric),
            study.delta(g, metric, confidence=level),
            claim,
            _paper_delta(study, g, field[metric]) if metric in field else None,
        )
        for g in tested
    ]


def instruction_following(study: Study) -> Finding:
    metric, llm = "compliance/overall", "llm_compliance/overall"
    base = study.baseline
    comparisons = []
    if base is not None and study.values(base, metric) and study.values(base, llm):
        comparisons.append(
            Comparison(
                base,
                "its LLM",
                study.estimate(base, metric),
                study.estimate(base, llm),
                study.delta(base, metric, base, llm),
                -1,
            )
        )
    claim = Claim(
        "the baseline (the paper's model) complies with held-out length instructions ('answer "
        "in one word', 'answer in detail') less often than its own frozen LLM asked the same "
        "questions about the image described in words",
        metric,
        comparisons,
    )
    return Finding(1, "Multimodal LLMs follow instructions worse than LLMs.", [claim])


def data_quality(study: Study) -> Finding:
    base = study.config(study.baseline).data.captions if study.baseline else None
    noisy = [
        g
        for g in _others(study)
        if base is not None
        and base.quality == "clean"
        and _only(study, g, "data.captions.")
        and study.config(g).data.captions.quality == "noisy"
        and study.config(g).data.captions.images > base.images
    ]
    metric = "openvqa/overall"
    claim = Claim(
        "a variant trained on many more, noisy captions (filtered or not) scores lower on "
        "Open-VQA image Overall than the baseline's few clean ones",
        metric,
        _against_baseline(study, noisy, metric, -1),
    )
    return Finding(2, "Data quality matters more than quantity.", [claim])


def diverse_prompts(study: Study) -> Finding:
    base = study.config(study.baseline) if study.baseline else None
    single = [
        g
        for g in _others(study)
        if base
        and base.data.prompts.mode == "diverse"
        and _only(study, g, "data.prompts.")
        and study.config(g).data.prompts.mode == "single"
    ]
    fewer_tasks = [
        g
        for g in _others(study)
        if base and _only(study, g, "data.mixture.") and _dropped_tasks(base, study.config(g))
    ]
    metric = "compliance/overall"
    claims = [
        Claim(
            "one template per task instead of diverse prompts lowers compliance with held-out "
            "length instructions (zero-shot instruction following)",
            metric,
            _against_baseline(study, single, metric, -1),
        ),
        Claim(
            "training on fewer tasks (a task of the baseline's mixture left out) lowers it too",
            metric,
            _against_baseline(study, fewer_tasks, metric, -1),
        ),
    ]
    return Finding(3, "Diverse tasks and prompts improve zero-shot instruction following.", claims)


def _dropped_tasks(base: VariantConfig, cfg: VariantConfig) -> list[str]:
    held_out = base.data.prompts.held_out_task
    return [
        t
        for t, ratio in base.data.mixture.items()
        if ratio > 0 and t != held_out and cfg.data.mixture.get(t, 0) <= 0
    ]


NOT_VQA = ("caption", "text")  # stage-2 tasks that are not downstream question answering
BALANCE_FACTOR = 1.5  # at least this much less / more downstream training than the baseline


def vqa_examples(cfg: VariantConfig) -> float:
    """Downstream (VQA) examples stage 2 trains on: steps × batch × the VQA tasks' share."""
    mixture = cfg.data.mixture
    trained = {t: r for t, r in mixture.items() if t != cfg.data.prompts.held_out_task and r > 0}
    share = sum(r for t, r in trained.items() if t not in NOT_VQA) / (sum(trained.values()) or 1)
    stage = cfg.train.stage2
    return stage.steps * stage.batch_size * stage.grad_accumulation * share


def balance(study: Study) -> Finding:
    under, over, near = [], [], []
    reference = vqa_examples(study.config(study.baseline)) if study.baseline else 0.0
    for g in _others(study) if reference > 0 else []:
        if not _only(study, g, "train.stage2.", "data.mixture."):
            continue
        ratio = vqa_examples(study.config(g)) / reference
        if ratio <= 1 / BALANCE_FACTOR:
            under.append(g)
        elif ratio >= BALANCE_FACTOR:
            over.append(g)
        else:
            near.append(f"{g} ({ratio:.2f}×)")
    note = ""
    if near:
        note = (
            "Changing only the downstream training but by less than "
            f"{BALANCE_FACTOR:g}× either way, so not counted: {', '.join(near)}."
        )
    claims = [
        Claim(
            f"too little downstream training (≤ 1/{BALANCE_FACTOR:g} of the baseline's VQA "
            "examples) gives less correct answers: lower Open-VQA image Overall",
            "openvqa/overall",
            _against_baseline(study, under, "openvqa/overall", -1),
        ),
        Claim(
            f"too much (≥ {BALANCE_FACTOR:g}×) gives short answers that ignore instructions: "
            "lower compliance with 'answer in detail'",
            "compliance/detailed",
            _against_baseline(study, over, "compliance/detailed", -1),
            note,
        ),
    ]
    return Finding(
        4,
        "Correctness and generation ability must be balanced: too little downstream (VQA) "
        "training gives hallucinated content, too much gives short answers that ignore "
        "instructions.",
        claims,
    )


def prefix_finetuning(study: Study) -> Finding:
    cross, frozen = [], []
    base = study.config(study.baseline) if study.baseline else None
    for g in _others(study):
        changes = _only(
            study,
            g,
            "model.arch",
            "model.cross_attention.",
            "model.llm.trainable",
            "model.llm.lora",
        )
        if base and base.model.arch == "prefix" and changes and "model.arch" in changes:
            cross.append(g)
            llm = study.config(g).model.llm
            if not llm.trainable and llm.lora is None:
                frozen.append(g)
    claims = [
        Claim(
            "gated cross-attention instead of a prefix (LLM frozen or trained) scores lower on "
            "Open-VQA image Overall",
            "openvqa/overall",
            _against_baseline(study, cross, "openvqa/overall", -1),
        ),
        Claim(
            "with the LLM frozen, as the prefix baseline, cross-attention learns slower: a "
            "higher final stage-2 training loss",
            "stage2/final_loss",
            _against_baseline(study, frozen, "stage2/final_loss", +1),
        ),
    ]
    return Finding(
        5,
        "Prefix-finetuning is the best way to adapt LLMs to images: it learns faster and "
        "trains more easily than cross-attention.",
        claims,
    )


FINDINGS: tuple[Callable[[Study], Finding], ...] = (
    instruction_following,
    data_quality,
    diverse_prompts,
    balance,
    prefix_finetuning,
)


def findings(study: Study) -> list[Finding]:
    return [test(study) for test in FINDINGS]


# ---- findings.md ----------------------------------------------------------------------------


def findings_markdown(study: Study, found: list[Finding]) -> str:
    runs = len(study.runs)
    lines = [
        f"# {study.spec.experiment}: the paper's five conclusions, tested on this sweep",
        "",
        f"Written by `make tables {study.spec.make_args}` from MLflow ({runs} finished runs, "
        f"seeds {', '.join(map(str, study.seeds)) or 'none'}, baseline "
        f"`{study.baseline}`); regenerated each time, never edited by hand. "
        f"{_sentence(interval_note(study))}.",
        "",
        "How verdicts are decided: a comparison **agrees** when its 95% interval lies wholly on "
        "the side the paper claims, **disagrees** when it lies wholly on the other side, and is "
        "**inconclusive** when it contains 0. A claim agrees when at least one comparison "
        "agrees and none disagrees (disagrees: the reverse); a conclusion agrees when all its "
        "tested claims agree, disagrees when all disagree, otherwise it is inconclusive. "
        "**Not tested**: the sweep has no variant that makes the comparison. Variants are "
        "chosen by what their configs change against the baseline. A claim's k comparisons "
        "share one 95% level (Bonferroni: each interval at 1 − 0.05/k, the `level` column), so "
        "one lucky variant among many cannot make it agree.",
        "",
        "| # | conclusion (the paper) | verdict |",
        "|---|---|---|",
        *(f"| {f.number} | {f.conclusion} | **{f.verdict}** |" for f in found),
    ]
    for finding in found:
        lines += ["", f"## {finding.number}. {finding.conclusion} — {finding.verdict}"]
        for claim in finding.claims:
            lines += ["", f"Claim: {claim.text} (`{claim.metric}`). Verdict: **{claim.verdict}**."]
            if claim.note:
                lines += ["", claim.note]
            if not claim.comparisons:
                lines += ["", "Not tested: no variant of this sweep makes this comparison."]
                continue
            lines += ["", _comparisons(study, claim).to_markdown(index=False)]
    return "\n".join(lines) + "\n"


def _comparisons(study: Study, claim: Claim) -> pd.DataFrame:
    rows = []
    for c in claim.comparisons:
        rows.append(
            {
                "variant": c.variant,
                "value": fmt(c.value, digits(claim.metric)),
                "against": c.against,
                "its value": fmt(c.reference, digits(claim.metric)),
                "Δ (ours)": fmt_delta(c.delta, digits(claim.metric)),
                "level": f"{family_confidence(len(claim.comparisons)):.1%}",
                "paper says": "lower" if c.claim < 0 else "higher",
                "verdict": c.verdict,
                "paper's Δ": "" if c.paper is None else f"{c.paper:+.2f}",
            }
        )
    return pd.DataFrame(rows)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
