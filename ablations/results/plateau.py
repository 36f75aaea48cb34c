"""A comparison between runs tuned apart, repeated across the candidates their tuning did not
tell from the choices: does its sign hold on the plateau, or could the choice decide it?

The final runs are at the choices alone and answer the test questions. The tuning candidates
ran every candidate on the tuning seeds, answered the validation questions and drew the same
held-out loss curve, so the same comparison between two variants' candidates shows whether
another choice among those the tuning could not tell apart might have flipped it. These are
paired means over the tuning seeds every run on both plateaus shares, without intervals: a
sign that holds across the plateau is robustness, not evidence of its own, and one that
does not is a warning, not a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ablations.results.findings import MIN_SEEDS
from ablations.results.study import Study


@dataclass(frozen=True)
class Spread:
    """The comparison's paired means over every pair of plateau candidates."""

    lowest: float
    highest: float
    at_choices: float  # the two choices' own pair
    pairs: int
    leaning: int  # pairs whose mean lies on the paper's side of 0
    opposing: int  # on the other side
    seeds: tuple[int, ...]

    def sentence(self, variant: str, against: str) -> str:
        where = (
            f"On the tuning runs (tuning seeds {', '.join(map(str, self.seeds))}, the "
            f"validation split), `{variant}` − `{against}` between the candidates on their "
            f"plateaus (each choice and those its tuning did not tell from it) ranges from "
            f"{self.lowest:+.3g} to {self.highest:+.3g} over {self.pairs} pairs "
            f"({self.at_choices:+.3g} at the two choices; paired means, without intervals)"
        )
        if self.leaning == self.pairs:
            return f"{where}: every pair on the paper's side."
        if self.opposing == self.pairs:
            return f"{where}: every pair on the other side."
        return (
            f"{where}: {self.leaning} on the paper's side, {self.opposing} on the other, so "
            "which of these candidates was chosen could decide the sign."
        )


def plateau_spread(
    candidates: Study,
    plateaus: Mapping[str, list[int]],
    variant: str,
    against: str,
    metric: str,
    claim: int,
) -> Spread | None:
    """`variant`'s metric minus `against`'s between their tuning candidates, each pair on
    their plateaus (`choices.plateaus`, each choice first), paired over the tuning seeds all
    of them recorded; None where a side was not tuned itself, fewer than two such seeds hold
    the metric (one tuning seed's differences are its luck), or the plateaus make one pair."""
    if variant not in plateaus or against not in plateaus:
        return None
    mine = [candidates.values(f"{variant}.tune{i}", metric) for i in plateaus[variant]]
    theirs = [candidates.values(f"{against}.tune{j}", metric) for j in plateaus[against]]
    if not all(mine + theirs):
        return None
    seeds = sorted(set.intersection(*(set(v) for v in mine + theirs)))
    if len(seeds) < MIN_SEEDS or len(mine) * len(theirs) < 2:
        return None
    means = [float(np.mean([x[s] - y[s] for s in seeds])) for x in mine for y in theirs]
    return Spread(
        lowest=min(means),
        highest=max(means),
        at_choices=means[0],
        pairs=len(means),
        leaning=sum(m * claim > 0 for m in means),
        opposing=sum(m * claim < 0 for m in means),
        seeds=tuple(seeds),
    )
