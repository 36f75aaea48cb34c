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
from typing import Any, Literal

import pandas as pd

from ablations.results.stats import CONFIDENCE, Estimate, holm
from ablations.results.study import Study
from ablations.results.tables import digits, fmt, fmt_delta, interval_note
from ablations.sweep.reference import BASELINE_ROW, CLAIMS, paper_figures
from lynx_core.config import VariantConfig
from lynx_core.data.tasks import TASKS

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


# ---- which variants a claim compares --------------------------------------------------------


def _changes(study: Study, group: str) -> dict[str, tuple[Any, Any]]:
    """What the variant changes against the baseline, in fields that change a result."""
    return study.differences(group, results_only=True)


def _only(study: Study, group: str, *prefixes: str) -> dict | None:
    """The variant's changes against the baseline if all of them are under `prefixes`."""
    changes = _changes(study, group)
    if not changes or any(not k.startswith(prefixes) for k in changes):
        return None
    return changes


def _others(study: Study) -> list[str]:
    """Every variant of the sweep but the baseline, finished or not (a claim about every
    such variant is not supported by the ones that happened to finish)."""
    groups = dict.fromkeys(v.group for v in study.variants)
    return [g for g in groups if g != study.baseline]


def _declared(study: Study, claim: str) -> list[str]:
    return [g for g in _others(study) if claim in study.variant(g).claims]


PAPER_FIELDS = {"openvqa/overall": "image_overall", "openvqa_video/overall": "video_overall"}


def _paper_delta(study: Study, group: str, metric: str) -> float | None:
    figures, field_name = paper_figures(), PAPER_FIELDS.get(metric)
    row, base = figures.row(study.variant(group).paper_row), figures.row(BASELINE_ROW)
    if field_name is None or row is None or base is None or getattr(row, field_name) is None:
        return None
    return getattr(row, field_name) - getattr(base, field_name)


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
        declared = [g for g in _declared(study, self.id) if g not in chosen]
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
                _paper_delta(study, g, self.metric),
                declared=g in declared,
            )
            for g in groups
        ]
        return Claim(self.id, self.text, self.metric, self.rule, comparisons, note, missing=missing)


def _baseline_config(study: Study) -> VariantConfig:
    return study.config(study.baseline)


# -- 1: instruction following ------------------------------------------------------------------


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


# -- 2: data quality -----------------------------------------------------------------------------

QUANTITY_FACTOR = 4.0  # "large-scale": at least this many times the baseline's caption pairs


def _caption_pairs(study: Study, group: str) -> float | None:
    """Stage 1's image–caption pairs, as the stage counted them (`stage1/pairs`), else as the
    config says for the generated world alone (None: not known)."""
    counted = study.values(group, "stage1/pairs")
    if counted:
        return sum(counted.values()) / len(counted)
    captions = study.config(group).data.captions
    return float(captions.images) if not captions.files else None


def _caption_quality(cfg: VariantConfig) -> str | None:
    """'noisy' if any stage-1 source is noisy, 'clean' if every one is clean, else None."""
    captions = cfg.data.captions
    kinds = [f.quality for f in captions.files]
    if captions.world_ratio > 0:
        kinds.append(captions.quality)
    if "noisy" in kinds:
        return "noisy"
    return "clean" if kinds and all(k == "clean" for k in kinds) else None


def _filtered(cfg: VariantConfig) -> bool:
    captions = cfg.data.captions
    world = captions.world_ratio > 0 and captions.quality_filter
    return world or any(f.text_filter or f.clip_filter for f in captions.files)


def _noisy_and_large(study: Study) -> tuple[list[str], str]:
    base = _baseline_config(study)
    base_pairs = _caption_pairs(study, study.baseline)
    if _caption_quality(base) != "clean" or not base_pairs:
        return [], ""
    chosen, unknown = [], []
    for g in _others(study):
        cfg = study.config(g)
        if not _only(study, g, "data.captions.") or _caption_quality(cfg) != "noisy":
            continue
        if _filtered(cfg):
            continue  # filtering is another question (its own variant's compare_to)
        pairs = _caption_pairs(study, g)
        if pairs is None:
            unknown.append(g)
        elif pairs >= QUANTITY_FACTOR * base_pairs:
            chosen.append(g)
    note = ""
    if unknown:
        note = (
            f"Not counted, their number of caption pairs unknown (no `stage1/pairs` recorded): "
            f"{', '.join(unknown)}."
        )
    return chosen, note


# -- 3: diverse prompts and tasks ----------------------------------------------------------------


def _single_prompts(study: Study) -> tuple[list[str], str]:
    base = _baseline_config(study)
    if base.data.prompts.mode != "diverse":
        return [], ""
    return [
        g
        for g in _others(study)
        if _only(study, g, "data.prompts.") and study.config(g).data.prompts.mode == "single"
    ], ""


def _trained_tasks(cfg: VariantConfig) -> dict[str, float]:
    held_out = cfg.data.prompts.held_out_task
    return {t: r for t, r in cfg.data.mixture.items() if r > 0 and t != held_out}


def _fewer_tasks(study: Study) -> tuple[list[str], str]:
    base = _trained_tasks(_baseline_config(study))
    return [
        g
        for g in _others(study)
        if _only(study, g, "data.mixture.") and set(_trained_tasks(study.config(g))) < set(base)
    ], ""


# -- 4: correctness and generation ---------------------------------------------------------------

BALANCE_FACTOR = 1.5  # VQA odds at least this much lower or higher than the baseline's


def task_role(cfg: VariantConfig, task: str) -> str | None:
    """A stage-2 task's role: the generated world's from its registry, a file's as declared."""
    if task in TASKS:
        return TASKS[task].role
    files = {f.task_name: f.role for f in cfg.data.train_files}
    return files.get(task)


def vqa_odds(cfg: VariantConfig) -> float | None:
    """Downstream (VQA) examples per other example that stage 2 trains on (None: a task of
    the mixture has no declared role, so the balance is not known)."""
    roles = {t: task_role(cfg, t) for t in _trained_tasks(cfg)}
    if None in roles.values():
        return None
    mixture = _trained_tasks(cfg)
    vqa = sum(r for t, r in mixture.items() if roles[t] == "vqa")
    other = sum(r for t, r in mixture.items() if roles[t] != "vqa")
    return math.inf if other == 0 else vqa / other


def _vqa_share(lower: bool) -> Callable[[Study], tuple[list[str], str]]:
    """Variants that reweigh the baseline's own tasks (none dropped or added, the steps the
    same), the VQA tasks' odds ≥ `BALANCE_FACTOR` times lower (or higher)."""

    def choose(study: Study) -> tuple[list[str], str]:
        base = _baseline_config(study)
        reference = vqa_odds(base)
        if not reference or math.isinf(reference):
            return [], ""
        chosen, near, unknown = [], [], []
        for g in _others(study):
            cfg = study.config(g)
            if not _only(study, g, "data.mixture."):
                continue
            if set(_trained_tasks(cfg)) != set(_trained_tasks(base)):
                continue  # a task dropped or added: the fewer-tasks question, not the balance
            odds = vqa_odds(cfg)
            if odds is None:
                unknown.append(g)
                continue
            ratio = odds / reference
            if (ratio <= 1 / BALANCE_FACTOR) if lower else (ratio >= BALANCE_FACTOR):
                chosen.append(g)
            elif 1 / BALANCE_FACTOR < ratio < BALANCE_FACTOR:
                near.append(f"{g} ({ratio:.2f}×)")
        notes = []
        if near:
            notes.append(
                f"Reweighing the tasks by less than {BALANCE_FACTOR:g}× either way, so not "
                f"counted: {', '.join(near)}."
            )
        if unknown:
            notes.append(f"A training file's role undeclared (`role:`): {', '.join(unknown)}.")
        return chosen, " ".join(notes)

    return choose


# -- 5: prefix vs cross-attention ----------------------------------------------------------------

ARCH_FIELDS = ("model.arch", "model.cross_attention.", "model.llm.trainable", "model.llm.lora")


def _cross_attention(frozen_only: bool) -> Callable[[Study], tuple[list[str], str]]:
    def choose(study: Study) -> tuple[list[str], str]:
        if _baseline_config(study).model.arch != "prefix":
            return [], ""
        chosen = []
        for g in _others(study):
            changes = _only(study, g, *ARCH_FIELDS)
            if not changes or "model.arch" not in changes:
                continue
            llm = study.config(g).model.llm
            if frozen_only and (llm.trainable or llm.lora is not None):
                continue
            chosen.append(g)
        return chosen, ""

    return choose


# -- 6: the paper's other ablation rows -----------------------------------------------------------


def _plain_llm(study: Study) -> tuple[list[str], str]:
    chosen = []
    for g in _others(study):
        changes = _only(study, g, "model.llm.toy_base", "model.llm.path")
        toy = changes and changes.get("model.llm.toy_base") == ("vicuna", "llama")
        row = changes and study.variant(g).paper_row == "w/ LLaMA"
        if toy or row:
            chosen.append(g)
    return chosen, ""


def _lower_resolution(study: Study) -> tuple[list[str], str]:
    size = _baseline_config(study).model.vision.image_size
    return [
        g
        for g in _others(study)
        if _only(study, g, "model.vision.image_size")
        and study.config(g).model.vision.image_size < size
    ], ""


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
                IMAGE, -1, "every", _noisy_and_large,
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
                "compliance/overall", -1, "every", _single_prompts,
            ),
            Test(
                "3b",
                "every variant trained on fewer tasks (a task of the baseline's mixture left "
                "out) complies less with held-out length instructions",
                "compliance/overall", -1, "every", _fewer_tasks,
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
                "hallucination/chair_s", +1, "every", _vqa_share(lower=True),
            ),
            Test(
                "4b",
                f"every variant whose mixture holds ≥ {BALANCE_FACTOR:g}× more VQA examples per "
                "other example (the same tasks and steps) complies less with 'answer in detail'",
                DETAIL, -1, "every", _vqa_share(lower=False),
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
                IMAGE, -1, "every", _cross_attention(frozen_only=False),
            ),
            Test(
                "5b",
                "every gated cross-attention variant with the LLM frozen, as the prefix's, "
                "learns slower: a larger area under its stage-2 held-out loss curve",
                "stage2/val_loss_area", +1, "every", _cross_attention(frozen_only=True),
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
                IMAGE, -1, "every", _plain_llm,
            ),
            Test(
                "6b",
                "every variant at a lower input resolution scores lower on Open-VQA image Overall",
                IMAGE, -1, "every", _lower_resolution,
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


# ---- findings.md ----------------------------------------------------------------------------


def findings_markdown(study: Study, found: list[Finding]) -> str:
    runs = len(study.runs)
    tested = sum(1 for f in found for c in f.claims if c.comparisons)
    lines = [
        f"# {study.spec.experiment}: the paper's conclusions, tested on this sweep",
        "",
        f"Written by `make tables {study.spec.make_args}` from MLflow ({runs} finished runs, "
        f"seeds {', '.join(map(str, study.seeds)) or 'none'}, baseline "
        f"`{study.baseline}`); regenerated each time, never edited by hand. "
        f"{_sentence(interval_note(study))}.",
        "",
        "How verdicts are decided: a comparison **agrees** when its 95% interval (seeds and "
        "evaluation items together) lies wholly on the side the paper claims, **disagrees** "
        "when it lies wholly on the other side, is **inconclusive** when it contains 0, and "
        f"gives no verdict (**too few seeds**) with fewer than {MIN_SEEDS} paired seeds. A "
        "claim about *every* such variant is supported when all its comparisons lean the "
        "paper's way (its p: the largest of theirs) and refuted when any one leans the other "
        "way (the smallest p times their number); a claim about *at least one* the other way "
        f"round. The {tested} tested claims' p-values are corrected together (Holm, each "
        "direction a family): a claim **agrees** when its corrected p is below 5% and none "
        "of its comparisons disagrees at plain 95%, **disagrees** symmetrically, and is "
        "**inconclusive** otherwise. A conclusion agrees when all its tested claims agree, "
        "disagrees when all disagree, and says how many of its claims were tested. **Not "
        "tested**: the sweep has no variant that makes the comparison. Variants are chosen by "
        "what their configs change against the baseline (only fields that change a result), "
        "or by declaring the claim (`claims:` in the sweep; marked *declared*).",
        "",
        "| # | conclusion (the paper) | verdict |",
        "|---|---|---|",
        *(f"| {f.number} | {f.conclusion} | **{f.summary}** |" for f in found),
    ]
    for finding in found:
        lines += ["", f"## {finding.number}. {finding.conclusion} — {finding.summary}"]
        for claim in finding.claims:
            p = (
                f" Claim p: {_p(claim.raw_p(claim.direction))} the paper's way, "
                f"{_p(claim.raw_p(-claim.direction))} the other; Holm-corrected "
                f"{_p(claim.p_for)} and {_p(claim.p_against)}."
                if claim.comparisons
                else ""
            )
            lines += [
                "",
                f"Claim {claim.id}: {claim.text} (`{claim.metric}`). Verdict: "
                f"**{claim.verdict}**.{p}",
            ]
            if claim.note:
                lines += ["", claim.note]
            if not claim.comparisons:
                lines += ["", "Not tested: no variant of this sweep makes this comparison."]
                continue
            lines += ["", _comparisons(claim).to_markdown(index=False)]
    return "\n".join(lines) + "\n"


def _p(value: float) -> str:
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}" if value < 0.01 else f"{value:.3f}"


def _comparisons(claim: Claim) -> pd.DataFrame:
    rows = []
    for c in claim.comparisons:
        rows.append(
            {
                "variant": c.variant + (" (declared)" if c.declared else ""),
                "value": fmt(c.value, digits(claim.metric)),
                "against": c.against,
                "its value": fmt(c.reference, digits(claim.metric)),
                "Δ (ours, 95%)": fmt_delta(c.delta, digits(claim.metric)),
                "seeds": c.seeds,
                "method": c.delta.method,
                "p": _p(c.delta.p_value),
                "paper says": "lower" if c.claim < 0 else "higher",
                "verdict": c.verdict,
                "paper's Δ": "" if c.paper is None else f"{c.paper:+.2f}",
            }
        )
    return pd.DataFrame(rows)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
