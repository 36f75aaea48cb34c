"""Intervals for the study's numbers, with every source of variance they have.

A variant's score varies with the seed (what it trains: its new modules' initial weights, its
batches, its sample of the world, and where a sweep says so its frozen bases) and with the
evaluation items (which questions, about which images, the benchmark happens to hold). Seeds
are crossed with items: every seed's run answers the same questions. So a difference between
two variants is estimated from a seeds × clusters table of paired differences (a cluster: the
questions about one image, which are not independent) with a two-way random-effects model,
its variance components by the method of moments:

    Var(Δ) = V_seed + V_item − V_cell

- V_seed: the variance of the per-seed differences over seeds, / S (training noise, and each
  seed's share of item-by-seed noise);
- V_item: the clusters' variance of the seed-averaged differences (the delta method of a
  cluster bootstrap, within strata where there are any: MME's subtasks);
- V_cell: the item-by-seed interaction both of them count, counted once;

never below the larger of the first two, with Satterthwaite's degrees of freedom for a Student
t interval (`paired_effect`). Metrics without per-question records (training losses) get the
t interval of their paired per-seed differences (`paired_delta`). With one seed, only the
evaluation set's own noise can be shown: a paired bootstrap over the questions, its resamples
growing with the level (`bootstrap_delta`). No verdict is drawn from fewer than two seeds;
`ablations.results.findings` decides. Pure functions of numbers: what they are is
`ablations.results.study`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import stdtr, stdtrit  # Student t's CDF and quantile (scipy.stats' core)

CONFIDENCE = 0.95
POWER = 0.80  # a minimum detectable effect is found this often (at the 95% level)
RESAMPLES = 2000  # a bootstrap's least; more at stricter levels (`resamples_for`)
TAIL_DRAWS = 50  # resamples expected beyond each end of a percentile interval
MAX_SEEDS = 64  # "how many seeds would decide it" is searched up to this
Method = Literal["seeds+items", "t", "bootstrap", "none"]


@dataclass(frozen=True)
class Components:
    """Where an estimate's variance comes from (each a variance of the estimate, in the
    metric's units squared), and the per-seed values behind it."""

    seed: float = math.nan  # V_seed: the seeds' share
    item: float = 0.0  # V_item − V_cell: the evaluation items' share (0: not measured)
    seeds: int = 0
    clusters: int = 0  # independent evaluation units (images), 0: none measured
    seed_sd: float = math.nan  # SD of one seed's value (or difference) over the seeds

    @property
    def item_se(self) -> float:
        return math.sqrt(self.item) if self.item > 0 else 0.0


@dataclass(frozen=True)
class Estimate:
    """A value with its interval at `level`; `n` seeds (or questions, one seed) behind it,
    `df` the degrees of freedom of its t interval, `se` its standard error."""

    value: float
    low: float
    high: float
    n: int
    method: Method
    se: float = math.nan
    df: float = math.nan
    level: float = CONFIDENCE
    parts: Components = field(default_factory=Components)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def known(self) -> bool:
        """Whether there is an interval at all (one seed and no questions, or no variance
        observed: there is not)."""
        return not (math.isnan(self.low) or math.isnan(self.high))

    @property
    def within_noise(self) -> bool:
        """The interval contains 0 (or there is none): no difference can be claimed."""
        return not self.known or self.low <= 0 <= self.high

    @property
    def p_value(self) -> float:
        """Two-sided p of 'no difference', from the t distribution the interval uses (1
        where there is no interval: nothing is shown)."""
        if not self.known or not self.se > 0 or math.isnan(self.df):
            return 1.0
        return float(2 * stdtr(self.df, -abs(self.value) / self.se))

    def detectable(self, power: float = POWER, level: float = CONFIDENCE) -> float:
        """The minimum detectable effect: the true difference a test at `level` finds with
        probability `power`, given this estimate's standard error and degrees of freedom."""
        if not self.se > 0 or math.isnan(self.df):
            return math.nan
        return (_t(level, self.df) + float(stdtrit(self.df, power))) * self.se

    def seeds_to_decide(self, power: float = POWER, level: float = CONFIDENCE) -> int | None:
        """How many paired seeds would make this observed difference significant with
        `power`: `seeds_for` the observed size (None where there is none)."""
        if not abs(self.value) > 0:
            return None
        return self.seeds_for(abs(self.value), power, level)

    def seeds_for(
        self, effect: float, power: float = POWER, level: float = CONFIDENCE
    ) -> int | None:
        """How many paired seeds would bring the minimum detectable effect down to `effect`
        (the seeds' variance shrinking with more of them, the items' not): a study's power
        plan. None when no number up to `MAX_SEEDS` would, or nothing is known of the seeds'
        variance."""
        seeds = self.parts.seeds
        if seeds < 2 or math.isnan(self.parts.seed):
            return None
        per_seed = self.parts.seed * seeds  # one seed's variance
        for more in range(2, MAX_SEEDS + 1):
            seed_part = per_seed / more
            variance = seed_part + self.parts.item
            df = _satterthwaite([(seed_part, more - 1), (self.parts.item, self.parts.clusters - 1)])
            factor = _t(level, df) + float(stdtrit(df, power))
            if factor * math.sqrt(variance) <= effect:
                return more
        return None


NOTHING = Estimate(math.nan, math.nan, math.nan, 0, "none")


def _t(level: float, df: float) -> float:
    """The two-sided `level` quantile of Student's t with `df` degrees of freedom."""
    return float(stdtrit(df, (1 + level) / 2))


def _satterthwaite(parts: Sequence[tuple[float, float]], total: float | None = None) -> float:
    """Welch–Satterthwaite degrees of freedom of a combination of variance estimates (each
    with its own degrees of freedom; parts of no variance or no freedom left out) whose
    value is `total` (default: their sum; a part subtracted still adds its uncertainty)."""
    used = [(v, df) for v, df in parts if v > 0 and df > 0]
    if not used:
        return math.nan
    total = sum(v for v, _ in used) if total is None else total
    return total**2 / sum(v**2 / df for v, df in used)


def _interval(value: float, se: float, df: float, n: int, method: Method, level: float, parts):
    if not se > 0:  # nothing varied: no interval can be drawn from it
        return Estimate(value, math.nan, math.nan, n, "none", se, df, level, parts)
    half = _t(level, df) * se
    return Estimate(value, value - half, value + half, n, method, se, df, level, parts)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean ± Student-t interval over independent replicates (seeds); none below 2, and
    none when they are all equal (no variance observed is not no variance)."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(data) == 0:
        return NOTHING
    mean = float(data.mean())
    if len(data) < 2:
        return Estimate(mean, math.nan, math.nan, 1, "none")
    sd = float(data.std(ddof=1))
    parts = Components(seed=sd**2 / len(data), seeds=len(data), seed_sd=sd)
    return _interval(
        mean, sd / math.sqrt(len(data)), len(data) - 1, len(data), "t", confidence, parts
    )


def paired_delta(
    values: Mapping[int, float], baseline: Mapping[int, float], confidence: float = CONFIDENCE
) -> Estimate:
    """`values − baseline` paired by seed (the seeds both have): t interval of the
    per-seed differences, so what a seed does to both sides cancels."""
    seeds = sorted(set(values) & set(baseline))
    return mean_interval([values[s] - baseline[s] for s in seeds], confidence)


@dataclass(frozen=True)
class Table:
    """A metric's per-question values over seeds × evaluation clusters, as the estimate
    reads them: `contributions[s, k]`, cluster k's share of seed s's value (so a seed's value
    is its row's sum), `sizes[k]` the questions in cluster k, `strata[k]` the stratum it is
    resampled within (MME's subtask; one stratum for the others)."""

    contributions: np.ndarray  # (S, K)
    sizes: np.ndarray  # (K,)
    strata: np.ndarray  # (K,)
    mean: bool = True  # the statistic is a mean over questions (else a sum: MME's)


def paired_effect(table: Table, confidence: float = CONFIDENCE) -> Estimate:
    """The value a table's seeds average to (a difference when the table holds paired
    differences), with its seeds-and-items interval (the module's docstring says how)."""
    u = np.asarray(table.contributions, float)
    seeds, clusters = u.shape
    per_seed = u.sum(axis=1)  # θ_s
    value = float(per_seed.mean())
    if seeds < 2:
        return Estimate(value, math.nan, math.nan, seeds, "none")
    seed_var = float(per_seed.var(ddof=1)) / seeds
    mean_u = u.mean(axis=0)  # ū_k
    weights = table.sizes / table.sizes.sum()  # ω_k
    # a mean is a ratio of sums: a cluster's influence on it is its share less its weight's
    influence = mean_u - value * weights if table.mean else mean_u
    item_var = 0.0
    for stratum in np.unique(table.strata):
        mine = influence[table.strata == stratum]
        if len(mine) > 1:
            item_var += len(mine) / (len(mine) - 1) * float(((mine - mine.mean()) ** 2).sum())
    residual = u - mean_u - np.outer(per_seed - value, weights)
    correction = clusters / max(clusters - 1, 1)
    cell_var = float((residual**2).sum()) / (seeds * (seeds - 1)) * correction
    combined = seed_var + item_var - cell_var
    variance = max(combined, seed_var, item_var)
    if variance == combined:
        df = _satterthwaite(
            [
                (seed_var, seeds - 1),
                (item_var, clusters - 1),
                (cell_var, (seeds - 1) * (clusters - 1)),
            ],
            combined,
        )
    else:  # floored at one component: its own degrees of freedom
        df = seeds - 1 if variance == seed_var else clusters - 1
    parts = Components(
        seed=seed_var,
        item=max(variance - seed_var, 0.0),
        seeds=seeds,
        clusters=clusters,
        seed_sd=math.sqrt(seed_var * seeds),
    )
    if math.isnan(df):
        df = seeds - 1
    return _interval(value, math.sqrt(variance), df, seeds, "seeds+items", confidence, parts)


def resamples_for(confidence: float) -> int:
    """Bootstrap resamples for a percentile interval at `confidence`: enough that each tail
    holds `TAIL_DRAWS` of them (2,000 at 95%, 20,000 at 99.5%)."""
    return max(RESAMPLES, math.ceil(2 * TAIL_DRAWS / (1 - confidence)))


def bootstrap_delta(
    values: np.ndarray,
    baseline: np.ndarray,
    statistic: Callable[..., float] = np.mean,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    resamples: int | None = None,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Estimate:
    """`statistic(values) − statistic(baseline)` over paired units (row i of both is the same
    question), with a percentile interval from resampling with replacement: whole clusters
    if given (every question about one image, since they are not independent), else units;
    within each stratum if given (e.g. MME's subtasks keep their sizes). One seed's
    evaluation noise only: never the ground of a verdict."""
    values, baseline = np.asarray(values, float), np.asarray(baseline, float)
    if values.shape != baseline.shape or len(values) == 0:
        return NOTHING
    resamples = resamples or resamples_for(confidence)
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
    return Estimate(point, float(low), float(high), len(values), "bootstrap", level=confidence)


def _draw(rng: np.random.Generator, groups: list[np.ndarray], resamples: int) -> np.ndarray:
    """(resamples, items): each row draws every group's size from it, with replacement."""
    return np.concatenate(
        [rng.choice(g, size=(resamples, len(g)), replace=True) for g in groups], axis=1
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the given order."""
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    adjusted, running = [1.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[index])))
        adjusted[index] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false discovery rate), in the given order."""
    m = len(p_values)
    if m == 0:
        return []
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        index = order[rank]
        running = min(running, float(p_values[index]) * m / (rank + 1))
        adjusted[index] = running
    return adjusted.tolist()


def variance_shares(parts: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Each part's share of the seed-to-seed variance of their sum: with D = Σ x_c over the
    seeds, share_c = Cov(x_c, D) / Var(D). The shares add up to 1 exactly (one may be
    negative: a part that moves against the rest); empty where the sum does not vary."""
    if not parts:
        return {}
    matrix = np.array([list(values) for values in parts.values()], dtype=float)
    if matrix.shape[1] < 2:
        return {}
    total = matrix.sum(axis=0)
    spread = float(np.var(total, ddof=1))
    if not spread > 1e-12 * max(1.0, float(np.abs(matrix).max()) ** 2):  # rounding, not spread
        return {}
    centred = total - total.mean()
    covariances = (matrix - matrix.mean(axis=1, keepdims=True)) @ centred / (len(total) - 1)
    return {name: float(c / spread) for name, c in zip(parts, covariances, strict=True)}
