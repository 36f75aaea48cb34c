"""The paper's conclusions, each tested on this sweep's own variants: `findings.md`.

Every conclusion is one or more registered claims: which variants a claim compares (chosen by
what their configs change against the baseline, counting only fields that change a result, or
declared by a variant: `claims: [4a]`), on which metric, in which direction the paper says the
difference goes, and whether the paper says it of *every* such variant or of *at least one*.

How a verdict is reached (`ablations.results.stats` gives each comparison its interval and p):
- a comparison agrees when its 95% interval lies wholly on the paper's side of 0, disagrees
  when on the other, is inconclusive when it holds 0, and gives no verdict with fewer than
  two paired seeds;
- a claim about every variant is supported when all its comparisons are (an
  intersection-union test: its p is the largest of theirs), and refuted when any one goes
  the other way (a union: the smallest p, times the number of comparisons, Bonferroni); a
  claim about at least one variant the other way round;
- the claims' p-values are corrected together across the whole study (Holm), each direction
  its own family; a claim agrees when its corrected p is below 5% and no comparison of it
  disagrees at plain 95% (a veto as easy to trigger as support), disagrees symmetrically,
  and is inconclusive otherwise;
- a conclusion agrees when all its tested claims agree, disagrees when all disagree, and says
  how many of its claims were tested.
Written from the data every time, never by hand: the toy world may disagree with the paper,
and then the file says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ablations.results.selection import (
    BALANCE_FACTOR,
    QUANTITY_FACTOR,
    cross_attention_variants,
    declared_for,
    fewer_tasks,
    lower_resolution,
    noisy_and_large,
    paper_delta,
    plain_llm,
    single_prompts,
    vqa_share,
)
from ablations.results.stats import CONFIDENCE, Estimate, holm
from ablations.results.study import Study
from ablations.sweep.reference import CLAIMS

Verdict = Literal["agrees", "disagrees", "inconclusive", "not tested", "too few seeds"]
Rule = Literal["every", "any"]
ALPHA = 1 - CONFIDENCE
MIN_SEEDS = 2  # no verdict from fewer paired seeds


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
    declared: bool = False  # chosen because the variant declares the claim

    @property
    def seeds(self) -> int:
        """Paired seeds behind the difference (one: a bootstrap over one seed's questions)."""
        return self.delta.parts.seeds or min(self.delta.n, 1)

    @property
    def verdict(self) -> Verdict:
        if self.seeds < MIN_SEEDS:
            return "too few seeds"
        if math.isnan(self.delta.value) or self.delta.within_noise:
            return "inconclusive"
        above = self.delta.low > 0  # the whole interval on one side of 0
        return "agrees" if above == (self.claim > 0) else "disagrees"

    def p_towards(self, sign: int) -> float:
        """Two-sided p of the difference when it lies on `sign`'s side of 0, else 1."""
        if self.seeds < MIN_SEEDS or math.isnan(self.delta.value):
            return 1.0
        return self.delta.p_value if self.delta.value * sign > 0 else 1.0


@dataclass(frozen=True)
class Claim:
    id: str
    text: str  # what the paper says, as a comparison on one metric
    metric: str
    rule: Rule
    comparisons: list[Comparison]
    note: str = ""  # e.g. the variants that came close to qualifying, and why they did not
    p_for: float = 1.0  # Holm-corrected p of the paper's side (set across the study)
    p_against: float = 1.0
    missing: tuple[str, ...] = ()  # chosen, but without a finished run of the metric

    @property
    def direction(self) -> int:
        return self.comparisons[0].claim if self.comparisons else -1

    def raw_p(self, sign: int) -> float:
        """The claim's own p for `sign`'s side: the largest when every comparison must lean
        that way, the smallest times their number when one is enough."""
        ps = [c.p_towards(sign) for c in self.comparisons]
        if not ps:
            return 1.0
        needs_all = (self.rule == "every") == (sign == self.direction)
        if needs_all and self.missing:  # a variant it is about was not measured
            return 1.0
        return max(ps) if needs_all else min(1.0, min(ps) * (len(ps) + len(self.missing)))

    @property
    def verdict(self) -> Verdict:
        if not self.comparisons:
            return "not tested"
        seen = {c.verdict for c in self.comparisons}
        if seen == {"too few seeds"}:
            return "too few seeds"
        if self.p_for < ALPHA and "disagrees" not in seen:
            return "agrees"
        if self.p_against < ALPHA and "agrees" not in seen:
            return "disagrees"
        return "inconclusive"


@dataclass(frozen=True)
class Finding:
    number: int
    conclusion: str  # the paper's conclusion, in its words
    claims: list[Claim]

    @property
    def tested(self) -> int:
        return sum(c.verdict not in ("not tested", "too few seeds") for c in self.claims)

    @property
    def verdict(self) -> Verdict:
        tested = {c.verdict for c in self.claims} - {"not tested", "too few seeds"}
        if not tested:
            return "too few seeds" if any(c.comparisons for c in self.claims) else "not tested"
        return next(iter(tested)) if len(tested) == 1 else "inconclusive"

    @property
    def summary(self) -> str:
        """E.g. 'agrees (2 of 2 claims tested)'."""
        if self.verdict in ("not tested", "too few seeds"):
            return self.verdict
        return f"{self.verdict} ({self.tested} of {len(self.claims)} claims tested)"


@dataclass(frozen=True)
class Test:
    """A claim as registered: its id (`reference.CLAIMS`), words, metric, direction, rule,
    and how its variants are chosen (names, and a note on near misses)."""

    id: str
    text: str
    metric: str
    claim: int
    rule: Rule
    choose: Callable[[Study], tuple[list[str], str]]

    def select(self, study: Study) -> tuple[list[str], list[str], str]:
        """(the variants it compares, those of them there by declaration, a note)."""
        chosen, note = self.choose(study) if study.baseline else ([], "")
        declared = [g for g in declared_for(study, self.id) if g not in chosen]
        return [*chosen, *declared], declared, note

    def run(self, study: Study) -> Claim:
        selected, declared, note = self.select(study)
        groups = [g for g in selected if study.values(g, self.metric)]
        if not study.baseline or not study.values(study.baseline, self.metric):
            groups = []
        missing = tuple(g for g in selected if g not in groups) if groups else ()
        if missing:
            note = (
                f"{note} Chosen but without a finished run of `{self.metric}` (so not "
                f"supported as a claim about every such variant): {', '.join(missing)}."
            ).strip()
        comparisons = [
            Comparison(
                g,
                study.baseline,
                study.estimate(g, self.metric),
                study.estimate(study.baseline, self.metric),
                study.delta(g, self.metric),
                self.claim,
                paper_delta(study, g, self.metric),
                declared=g in declared,
            )
            for g in groups
        ]
        return Claim(self.id, self.text, self.metric, self.rule, comparisons, note, missing=missing)


def instruction_following(study: Study) -> Claim:
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
    text = CLAIMS["1"] + (
        ": the baseline (the paper's model) complies with held-out length instructions "
        "('answer in one word', 'answer in detail') less often than its own frozen LLM asked "
        "the same questions about the image described in words"
    )
    return Claim("1", text, metric, "every", comparisons)


IMAGE, DETAIL = "openvqa/overall", "compliance/detailed"


TESTS: dict[int, tuple[str, list[Test]]] = {
    2: (
        "Data quality matters more than quantity.",
        [
            Test(
                "2",
                f"every variant trained on ≥ {QUANTITY_FACTOR:g}× the caption pairs, noisy and "
                "unfiltered, scores lower on Open-VQA image Overall than the baseline's clean "
                "ones (compared at equal stage-1 steps)",
                IMAGE, -1, "every", noisy_and_large,
            ),
        ],
    ),
    3: (
        "Diverse tasks and prompts improve zero-shot instruction following.",
        [
            Test(
                "3a",
                "every variant trained with one template per task (and one wording per length "
                "instruction, at the same rate) complies less with held-out length "
                "instructions than the baseline's diverse prompts",
                "compliance/overall", -1, "every", single_prompts,
            ),
            Test(
                "3b",
                "every variant trained on fewer tasks (a task of the baseline's mixture left "
                "out) complies less with held-out length instructions",
                "compliance/overall", -1, "every", fewer_tasks,
            ),
        ],
    ),
    4: (
        "Correctness and generation ability must be balanced: too little downstream (VQA) "
        "training gives hallucinated content, too much gives short answers that ignore "
        "instructions.",
        [
            Test(
                "4a",
                f"every variant whose stage-2 mixture holds ≥ {BALANCE_FACTOR:g}× fewer VQA "
                "examples per other example (the same tasks and steps) names more things its "
                "image does not show when asked for detail (CHAIR_s)",
                "hallucination/chair_s", +1, "every", vqa_share(lower=True),
            ),
            Test(
                "4b",
                f"every variant whose mixture holds ≥ {BALANCE_FACTOR:g}× more VQA examples per "
                "other example (the same tasks and steps) complies less with 'answer in detail'",
                DETAIL, -1, "every", vqa_share(lower=False),
            ),
        ],
    ),
    5: (
        "Prefix-finetuning is the best way to adapt LLMs to images: it learns faster and "
        "trains more easily than cross-attention.",
        [
            Test(
                "5a",
                "every gated cross-attention variant (LLM frozen or trained) scores lower on "
                "Open-VQA image Overall than the prefix (each at the stage-2 rate it chose, "
                "where the sweep tunes; our prefix holds its tokens at a word's scale, which "
                "the paper's may not)",
                IMAGE, -1, "every", cross_attention_variants(frozen_only=False),
            ),
            Test(
                "5b",
                "every gated cross-attention variant with the LLM frozen, as the prefix's, "
                "learns slower: a larger area under its stage-2 held-out loss curve",
                "stage2/val_loss_area", +1, "every", cross_attention_variants(frozen_only=True),
            ),
        ],
    ),
    6: (
        "The paper's other ablation rows: an instruction-tuned LLM and high-resolution input "
        "help.",
        [
            Test(
                "6a",
                "every variant on the plain LLM (LLaMA) instead of the instruction-tuned one "
                "(Vicuna) scores lower on Open-VQA image Overall",
                IMAGE, -1, "every", plain_llm,
            ),
            Test(
                "6b",
                "every variant at a lower input resolution scores lower on Open-VQA image Overall",
                IMAGE, -1, "every", lower_resolution,
            ),
        ],
    ),
}  # fmt: skip


def findings(study: Study) -> list[Finding]:
    """Every conclusion's claims on this sweep, their p-values Holm-corrected together."""
    claims = {1: [instruction_following(study)]}
    for number, (_, tests) in TESTS.items():
        claims[number] = [t.run(study) for t in tests]
    every = [c for found in claims.values() for c in found]
    corrected = _corrected(every)
    conclusions = {1: "Multimodal LLMs follow instructions worse than LLMs."}
    conclusions |= {n: text for n, (text, _) in TESTS.items()}
    return [
        Finding(n, conclusions[n], [corrected[id(c)] for c in claims[n]]) for n in sorted(claims)
    ]


def _corrected(claims: Sequence[Claim]) -> dict[int, Claim]:
    """Each claim with its p-values Holm-corrected across the study's tested claims (the
    paper's side one family, the other side another)."""
    tested = [c for c in claims if c.comparisons and c.verdict != "too few seeds"]
    towards = holm([c.raw_p(c.direction) for c in tested])
    away = holm([c.raw_p(-c.direction) for c in tested])
    corrected = zip(tested, towards, away, strict=True)
    done = {id(c): replace(c, p_for=p, p_against=q) for c, p, q in corrected}
    return {id(c): done.get(id(c), c) for c in claims}
