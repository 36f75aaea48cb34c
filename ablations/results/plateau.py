"""A comparison between runs tuned apart, repeated across the candidates their tuning did not
tell from the choices: does its sign hold on the plateau, or turn with the choice?

The final runs are at the choices alone and answer the test questions. The tuning candidates
ran every candidate on the tuning seeds and answered the validation questions, with the same
held-out loss curve, so the same comparison between two variants' candidates shows whether
another choice among those the tuning could not tell apart would have flipped it. These are
paired means over the tuning seeds, not verdicts: a sign that holds across the plateau is
robustness, not evidence of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ablations.results.study import Study


@dataclass(frozen=True)
class Spread:
    """The comparison's paired mean over every pair of plateau candidates."""

    lowest: float
    highest: float
    pairs: int
    leaning: int  # pairs whose difference lies on the paper's side of 0

    def sentence(self, variant: str, against: str, claim: int) -> str:
        where = (
            f"On the tuning runs (their seeds, the validation split), `{variant}` − "
            f"`{against}` over the {self.pairs} pairs of candidates on their plateaus runs "
            f"from {self.lowest:+.3g} to {self.highest:+.3g}"
        )
        if self.leaning == self.pairs:
            return f"{where}: every pair on the paper's side."
        if self.leaning == 0:
            return f"{where}: every pair on the other side."
        return (
            f"{where}: {self.leaning} of {self.pairs} on the paper's side, so the sign turns "
            "with the choice among candidates the tuning could not tell apart."
        )


def plateau_spread(
    candidates: Study,
    plateaus: dict[str, list[int]],
    variant: str,
    against: str,
    metric: str,
    claim: int,
) -> Spread | None:
    """`variant`'s metric minus `against`'s between their tuning candidates, each pair on
    their plateaus (`choices.plateaus`), paired by tuning seed; None where a side has no
    plateau (it was not tuned itself) or no candidate recorded the metric."""
    if variant not in plateaus or against not in plateaus:
        return None
    found = [
        _paired_mean(candidates, f"{variant}.tune{i}", f"{against}.tune{j}", metric)
        for i in plateaus[variant]
        for j in plateaus[against]
    ]
    deltas = [d for d in found if d is not None and math.isfinite(d)]
    if not deltas:
        return None
    leaning = sum(d * claim > 0 for d in deltas)
    return Spread(min(deltas), max(deltas), len(deltas), leaning)


def _paired_mean(candidates: Study, group: str, against: str, metric: str) -> float | None:
    mine, theirs = candidates.values(group, metric), candidates.values(against, metric)
    common = sorted(set(mine) & set(theirs))
    return float(np.mean([mine[s] - theirs[s] for s in common])) if common else None
