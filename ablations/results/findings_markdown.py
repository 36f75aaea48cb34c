"""`findings.md`: each conclusion's verdict, its claims and their comparisons as a reader checks
them (the paper's figure beside ours, the interval, the corrected p-value, the seeds)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ablations.results.choices import Tuning, plateaus, unsettled
from ablations.results.findings import MIN_SEEDS, Claim, Finding
from ablations.results.formatting import digits, fmt, fmt_delta, interval_note, seeds_text
from ablations.results.plateau import plateau_spread
from ablations.results.study import Study
from ablations.sweep.spec import SweepSpec
from lynx_core.config import RELEASED, flatten
from lynx_core.data.convert.recipe import PAPER_ONLY, SOURCES

TURNS = "‡"  # a verdict that turns on a tuning choice its tuning did not settle


def findings_markdown(study: Study, found: list[Finding], tuning: Tuning | None = None) -> str:
    """`tuning`: the sweep's tuning as read for `tuning.md`, for the verdicts that turn on a
    choice it did not settle (‡)."""
    tuned = _OpenChoices.of(study, tuning)
    turning = {id(c): _turning(study, c, tuned.unsettled) for f in found for c in f.claims}

    def mark(finding: Finding) -> str:  # ' ‡' where a claim of it turns on an open choice
        return f" {TURNS}" if any(turning[id(c)] for c in finding.claims) else ""

    runs = len(study.runs)
    tested = sum(1 for f in found for c in f.claims if c.comparisons)
    lines = [
        f"# {study.spec.experiment}: the paper's conclusions, tested on this sweep",
        "",
        f"Written by `make tables {study.spec.make_args}` from MLflow ({runs} finished runs, "
        f"seeds {seeds_text(study)}, baseline "
        f"`{study.baseline}`); regenerated each time, never edited by hand. "
        f"{_sentence(interval_note(study))}.",
        *_data_note(study),
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
        "or by declaring the claim (`claims:` in the sweep; marked *declared*)."
        + _legend(study.spec),
        "",
        "| # | conclusion (the paper) | verdict |",
        "|---|---|---|",
        *(f"| {f.number} | {f.conclusion} | **{f.summary}**{mark(f)} |" for f in found),
    ]
    for finding in found:
        heading = f"{finding.number}. {finding.conclusion} — {finding.summary}{mark(finding)}"
        lines += ["", f"## {heading}"]
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
            caveat = _tuning_caveat(study, claim, turning[id(claim)], tuned)
            if caveat:
                lines += ["", caveat]
            if not claim.comparisons:
                lines += ["", "Not tested: no variant of this sweep makes this comparison."]
                continue
            lines += ["", _comparisons(claim).to_markdown(index=False)]
    return "\n".join(lines) + "\n"


def _legend(spec: SweepSpec) -> str:
    """What ‡ means, in a sweep that tunes."""
    if spec.tune is None:
        return ""
    return (
        f" {TURNS}: some comparison of a claim sets runs tuned apart against each other (each "
        "at a different variant's choice, or one at none), and at least one of those choices "
        "its variant's tuning did not tell from another candidate (`tuning.md`; with one "
        "tuning seed, no choice is told apart); the claim says which. Two runs at the same "
        "variant's choice (a data variant at lynx's rate against lynx) are not marked: a "
        "choice moves both together."
    )


def _choice_of(study: Study, name: str) -> str | None:
    """The tuned variant whose choice the run `name` is at: none for what is no variant of
    the sweep (the bare LLM) or a variant that sets the tuned fields itself."""
    spec = study.spec
    chooser = spec.chooser(name) if name in study.groups else None
    if chooser is None or chooser == name:
        return chooser
    own = flatten(study.config(name).model_dump(mode="json"))
    chosen = spec.choices.get(chooser, {})
    return chooser if all(own.get(f) == v for f, v in chosen.items()) else None


def _turning(study: Study, claim: Claim, unsettled: Mapping[str, str]) -> list[str]:
    """The unsettled choices a claim's verdict turns on: those of each comparison whose two
    sides are tuned apart, where a side's choice its tuning did not tell from another
    candidate. A claim that reached no verdict turns on nothing."""
    if claim.verdict in ("not tested", "too few seeds"):
        return []
    found: list[str] = []
    for c in claim.comparisons:
        sides = (_choice_of(study, c.variant), _choice_of(study, c.against))
        if sides[0] != sides[1]:
            found += [s for s in sides if s in unsettled and s not in found]
    return found


@dataclass(frozen=True)
class _OpenChoices:
    """What findings.md reads of the tuning: the choices it did not settle, each tuned
    variant's plateau (its choice and the candidates not told from it), the candidates."""

    unsettled: Mapping[str, str]
    plateaus: Mapping[str, list[int]]
    candidates: Study | None

    @classmethod
    def of(cls, study: Study, tuning: Tuning | None) -> _OpenChoices:
        if tuning is None:
            return cls({}, {}, None)
        fields = list(study.spec.tuned_fields)
        return cls(unsettled(tuning.numbers, fields), plateaus(tuning.numbers), tuning.candidates)


def _tuning_caveat(study: Study, claim: Claim, choosers: list[str], tuned: _OpenChoices) -> str:
    """The paragraph under a claim that turns on the unsettled choices of `choosers`
    (`_turning`): the choices, and how its comparisons fare across the candidates the tuning
    did not tell apart."""
    if not choosers:
        return ""
    said = "; ".join(f"`{v}` chose {tuned.unsettled[v]}" for v in choosers)
    text = (
        f"{TURNS} Turns on tuning the study did not settle: some of its comparisons set a run "
        f"at one variant's choice against a run at another's, or at none, and {said} "
        "(`tuning.md`). The verdict is the one at these choices; this study did not ask the "
        "test questions at the other candidates."
    )
    if tuned.candidates is None or not _measured_alike(study, claim.metric):
        return text
    for c in claim.comparisons:
        if not {c.variant, c.against} & set(choosers):
            continue
        spread = plateau_spread(
            tuned.candidates, tuned.plateaus, c.variant, c.against, claim.metric, c.claim
        )
        if spread is not None:
            text += " " + spread.sentence(c.variant, c.against)
    return text


def _measured_alike(study: Study, metric: str) -> bool:
    """Whether the tuning runs measured `metric` as the final runs did: a held-out loss of
    training (the same validation split for both), or an evaluation whose test and
    validation questions both come from the generated world. At paper scale the test is the
    released benchmark and the validation the generated world's: not one comparison."""
    if metric.split("/")[0] in ("stage1", "stage2"):
        return True
    evaluation = study.config(study.baseline).eval
    own = [evaluation.suite, evaluation.validation_suite]
    return all(v is None for v in own + [getattr(evaluation, name) for name in RELEASED])


def _data_note(study: Study) -> list[str]:
    """What the baseline trains on, when that is released data rather than the generated
    world alone, and where the data recipe departs from the paper's (its Table 9)."""
    if study.baseline is None:
        return []
    data = study.config(study.baseline).data
    captions = [f.source_name for f in data.captions.files]
    files = [f.task_name for f in data.train_files if data.mixture.get(f.task_name, 0) > 0]
    if not captions and not files:
        return []
    world = data.captions.world_ratio > 0 or any(
        v > 0 for k, v in data.mixture.items() if k not in files
    )
    tuned = f"is instruction-tuned on {', '.join(files)}" if files else "is instruction-tuned"
    note = (
        f"Data: `{study.baseline}` aligns on {', '.join(captions) or 'the generated captions'} "
        f"and {tuned}{' on the generated world' if world and not files else ''}"
        f"{' and the generated world' if world and files else ''}."
    )
    recipe = {s.name for s in SOURCES.values() if s.role == "clean" or s.stage == "stage2"}
    if set(captions) | set(files) == recipe:  # the recipe as shipped, whose departures are these
        note += (
            " These are the paper's datasets as released (its Table 9), with its departures "
            "said in `sweeps/recipes/lynx-paper-data.yaml`: stage 1 on image–text pairs only; "
            "the noisy-data variant replaces the clean sets; the rows without a converter "
            f"({sum(share for share, _ in PAPER_ONLY.values()):.0f}% of the paper's stage-2 "
            "mixture, Flan V2 the largest) give their share to their role's sources; "
            "Places365 (scene classification) is held out, as the generated world's place task "
            "is, though other sources still ask where a picture was taken."
        )
    return ["", note]


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
