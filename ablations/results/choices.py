"""`tuning.md`: each tuned variant's candidates, the one it chose, and whether the choice
stands out from the others beyond the noise.

The candidates are read as a study of their own (`Study.tuning`), so that each pairs with
its variant's choice over the tuning seeds and the validation questions, with the study's
seeds-and-items interval. One tuning seed measures the questions' noise alone (a paired
bootstrap), from which the study never decides, and neither does `tuning.md`. The choice is
the best of the very scores it is compared on, which makes its gaps look larger: a choice said
to stand out may not; one said to be within noise is not shown to be the best.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ablations.results.formatting import fmt_delta
from ablations.results.stats import NOTHING, Estimate
from ablations.results.study import Study
from ablations.sweep.spec import SweepSpec
from ablations.sweep.tuning import TUNING
from ablations.tracking.recorded import tuning_scores, variant_frame

DECIDING = "seeds+items"  # the method an interval needs to tell a choice from another
ONE_SEED = "bootstrap"  # one tuning seed's: the questions' noise alone, from which none is told


@dataclass(frozen=True)
class Tuning:
    """A study's tuning as MLflow holds it, read once: the candidates' table (their scores,
    each variant's choice, and each other candidate's difference from it: `vs chosen`, its
    interval, and the paired tuning seeds that would tell a difference of that size apart)
    and the candidates as a study of their own (`Study.tuning`)."""

    numbers: pd.DataFrame
    candidates: Study


def read_tuning(study: Study) -> Tuning:
    """The study's tuning, its candidates' runs read from MLflow once for both."""
    spec, uri = study.spec, study.client.tracking_uri
    runs = variant_frame(spec.tuning(), Path("."), uri, role=TUNING)  # read once, for both
    candidates = Study.tuning(spec, runs, uri)
    return Tuning(_table(spec, tuning_scores(spec, Path("."), uri, runs), candidates), candidates)


def _table(spec: SweepSpec, scores: pd.DataFrame, candidates: Study) -> pd.DataFrame:
    if scores.empty:
        return scores
    winners = {  # by candidate number: two candidates of equal values are refused
        variant: spec.tune.candidates.index(values)
        for variant, values in spec.choices.items()
        if values in spec.tune.candidates
    }
    pairs = zip(scores["variant"], scores["candidate"], strict=True)
    scores["chosen"] = [winners.get(variant) == number for variant, number in pairs]
    if not winners:
        return scores
    deltas = [
        _against_choice(candidates, spec.tune.metric, row, winners) for _, row in scores.iterrows()
    ]
    scores["vs chosen"] = [d.value for d in deltas]
    scores["vs chosen low"] = [d.low for d in deltas]
    scores["vs chosen high"] = [d.high for d in deltas]
    scores["vs chosen method"] = [d.method for d in deltas]
    scores["vs chosen seeds to decide"] = [
        d.seeds_to_decide() if d.method == DECIDING else None for d in deltas
    ]
    return scores


def _against_choice(candidates: Study, metric: str, row: pd.Series, winners: dict) -> Estimate:
    """A candidate's score minus its variant's choice's, paired by tuning seed and question
    (none for the choice itself, a variant yet to choose, or a candidate that failed)."""
    chose = winners.get(row["variant"])
    if chose is None or chose == row["candidate"] or row["failed"]:
        return NOTHING
    name = f"{row['variant']}.tune"
    return candidates.delta(f"{name}{row['candidate']}", metric, against=f"{name}{chose}")


def _choice_delta(row: pd.Series) -> Estimate:
    """A candidate's difference from its variant's choice, as the tuning table recorded it."""
    low, high = row["vs chosen low"], row["vs chosen high"]
    return Estimate(row["vs chosen"], low, high, 0, row["vs chosen method"])


def tuning_cells(numbers: pd.DataFrame) -> pd.DataFrame:
    if numbers.empty:
        return numbers
    cells = numbers.drop(columns=["complete"])
    cells = cells.loc[:, ~cells.columns.str.startswith("vs chosen")].copy()
    cells["score"] = [f"{v:.2f}" if not math.isnan(v) else "–" for v in cells["score"]]
    cells["chosen"] = ["✓" if c else "" for c in cells["chosen"]]
    if "vs chosen" in numbers:
        cells["vs chosen"] = [fmt_delta(_choice_delta(row), 2) for _, row in numbers.iterrows()]
    return cells


def choice_note(numbers: pd.DataFrame, spec: SweepSpec) -> str:
    """What `tuning.md` says of whether each choice stands out from its other candidates."""
    if numbers.empty or "vs chosen" not in numbers:
        return ""
    compared = numbers[numbers["vs chosen"].notna()]
    if compared.empty:
        return ""
    if _one_seed(compared):
        return (
            "**One tuning seed**: its intervals hold the validation questions' noise alone, "
            "not a seed's, so they tell no choice from another (the study draws no verdict "
            "from one seed either); `tune.seed_count: 2` or more would."
        )
    undecided = undecided_choices(numbers, list(spec.tuned_fields))
    if undecided:
        return (
            "**Within noise** (95%, paired over the tuning seeds and the validation questions: "
            "the tuning did not tell these apart, and `findings.md` marks with ‡ each verdict "
            f"that turns on such a choice): {'; '.join(undecided)}."
        )
    side = "above" if spec.tune.goal == "max" else "below"
    return (
        f"Each choice scored {side} every other candidate of its variant beyond the noise (no "
        "pairwise 95% interval holds 0; unadjusted for the choice being the best of those very "
        "scores, which makes its gaps look larger)."
    )


def unsettled(numbers: pd.DataFrame, fields: list[str]) -> dict[str, str]:
    """Each variant whose tuning did not tell its choice from another candidate, with the
    choice and why in a few words (one tuning seed, or the candidates within its noise): a
    verdict that compares it with a run at another variant's choice turns on that choice."""
    found = {}
    for variant, chosen, compared in _choosing(numbers):
        chose = _values(chosen, fields)
        if compared.empty:  # it won by default
            found[variant] = f"{chose}, the only candidate that finished"
        elif _one_seed(compared):
            found[variant] = f"{chose} on one tuning seed, which tells no candidate apart"
        elif close := _close(compared):
            named = ", ".join(_values(row, fields) for row, _ in close)
            found[variant] = f"{chose}, within the noise of {named}"
    return found


def plateaus(numbers: pd.DataFrame) -> dict[str, list[int]]:
    """Each variant that chose: its choice's candidate number, then those of the candidates
    its tuning did not tell from it (within noise; with one tuning seed, every one)."""
    found = {}
    for variant, chosen, compared in _choosing(numbers):
        if _one_seed(compared):
            close = list(compared["candidate"])
        else:
            close = [row["candidate"] for row, _ in _close(compared)]
        found[variant] = [int(chosen["candidate"]), *map(int, close)]
    return found


def _choosing(numbers: pd.DataFrame) -> Iterator[tuple[str, pd.Series, pd.DataFrame]]:
    """Each variant that chose: its name, its choice's row, and the rows of its other
    candidates that have a difference from the choice (those that finished)."""
    if numbers.empty or "vs chosen" not in numbers:
        return
    for variant, rows in numbers.groupby("variant", sort=False):
        if rows["chosen"].any():
            yield str(variant), rows[rows["chosen"]].iloc[0], rows[rows["vs chosen"].notna()]


def _one_seed(compared: pd.DataFrame) -> bool:
    return bool((compared["vs chosen method"] == ONE_SEED).any())


def _close(compared: pd.DataFrame) -> list[tuple[pd.Series, Estimate]]:
    """The candidates whose difference from the choice is within noise, with it."""
    deltas = [(row, _choice_delta(row)) for _, row in compared.iterrows()]
    return [(row, delta) for row, delta in deltas if delta.within_noise]


def undecided_choices(numbers: pd.DataFrame, fields: list[str]) -> list[str]:
    """Each variant whose choice another candidate is within the noise of, with how many
    paired tuning seeds would tell a difference of that size apart."""
    found = []
    for variant, chosen, compared in _choosing(numbers):
        if close := _close(compared):
            named = ", ".join(f"{_values(row, fields)} ({_shown(row, e)})" for row, e in close)
            found.append(
                f"{variant} chose {_values(chosen, fields)}, but {named} "
                f"{'is' if len(close) == 1 else 'are'} within the noise of it"
            )
    return found


def _shown(row: pd.Series, estimate: Estimate) -> str:
    text = fmt_delta(estimate, 2, noise=False) + ("" if estimate.known else ", no interval")
    seeds = row.get("vs chosen seeds to decide")
    if seeds is not None and not pd.isna(seeds):
        return f"{text}; {int(seeds)} tuning seeds would tell a difference this size apart"
    return f"{text}; at these validation questions no number of tuning seeds would"


def _values(row: pd.Series, fields: list[str]) -> str:
    return ", ".join(f"{f}={row[f]}" for f in fields)
