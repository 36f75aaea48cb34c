"""Intervals for the study's numbers: a mean over seeds, a difference paired by seed, and,
with one seed, a difference bootstrapped over the questions both runs answered.

Pure functions of numbers (scipy.stats for the t quantiles, numpy for resampling); what the
numbers are and where they come from is `ablations.study`'s business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
Method = Literal["t", "bootstrap", "none"]


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval; `n` seeds (t) or questions (bootstrap) behind it."""

    value: float
    low: float
    high: float
    n: int
    method: Method

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def known(self) -> bool:
        """Whether there is an interval at all (one seed and no questions: there is not)."""
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def within_noise(self) -> bool:
        """The interval contains 0 (or there is none): no difference can be claimed."""
        return not self.known or self.low <= 0 <= self.high


NOTHING = Estimate(math.nan, math.nan, math.nan, 0, "none")


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean ± Student-t interval over independent replicates (seeds); none below 2."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(data) == 0:
        return NOTHING
    mean = float(data.mean())
    if len(data) < 2:
        return Estimate(mean, math.nan, math.nan, 1, "none")
    sem = float(data.std(ddof=1)) / math.sqrt(len(data))
    half = float(stats.t.ppf((1 + confidence) / 2, df=len(data) - 1)) * sem
    return Estimate(mean, mean - half, mean + half, len(data), "t")


def paired_delta(
    values: Mapping[int, float], baseline: Mapping[int, float], confidence: float = CONFIDENCE
) -> Estimate:
    """`values − baseline` paired by seed (the seeds both have): t interval of the
    per-seed differences, so what a seed does to both sides cancels."""
    seeds = sorted(set(values) & set(baseline))
    return mean_interval([values[s] - baseline[s] for s in seeds], confidence)


def bootstrap_delta(
    values: np.ndarray,
    baseline: np.ndarray,
    statistic: Callable[..., float] = np.mean,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Estimate:
    """`statistic(values) − statistic(baseline)` over paired units (row i of both is the same
    question), with a percentile interval from resampling with replacement: whole clusters
    if given (every question about one image, since they are not independent), else units;
    within each stratum if given (e.g. MME's subtasks keep their sizes)."""
    values, baseline = np.asarray(values, float), np.asarray(baseline, float)
    if values.shape != baseline.shape or len(values) == 0:
        return NOTHING
    point = float(statistic(values) - statistic(baseline))
    strata = np.zeros(len(values), int) if strata is None else np.asarray(strata)
    rng = np.random.default_rng(seed)
    if clusters is None and statistic not in (np.mean, np.sum):
        groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        picks = _draw(rng, groups, resamples)
        deltas = np.array([statistic(values[p]) - statistic(baseline[p]) for p in picks])
    else:  # linear statistics: per cluster, the sum of paired differences and its size
        if statistic not in (np.mean, np.sum):
            raise ValueError("a clustered bootstrap takes np.mean or np.sum as its statistic")
        ids = np.arange(len(values)) if clusters is None else clusters
        _, cluster = np.unique(np.asarray(ids).astype(str), return_inverse=True)
        sums = np.bincount(cluster, weights=values - baseline)
        sizes = np.bincount(cluster).astype(float)
        first = np.unique(cluster, return_index=True)[1]  # a cluster's stratum: its first unit's
        of_cluster = strata[first]
        groups = [np.flatnonzero(of_cluster == s) for s in np.unique(of_cluster)]
        picks = _draw(rng, groups, resamples)
        drawn = sums[picks].sum(axis=1)
        deltas = drawn / sizes[picks].sum(axis=1) if statistic is np.mean else drawn
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return Estimate(point, float(low), float(high), len(values), "bootstrap")


def _draw(rng: np.random.Generator, groups: list[np.ndarray], resamples: int) -> np.ndarray:
    """(resamples, items): each row draws every group's size from it, with replacement."""
    return np.concatenate(
        [rng.choice(g, size=(resamples, len(g)), replace=True) for g in groups], axis=1
    )
