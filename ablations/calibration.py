"""How often the findings' verdicts are wrong: thousands of simulated studies with known
effects, through the same selection, interval and verdict code as a real sweep.

A simulated study is a `Study` of a real sweep file's variants whose scores are drawn from the
crossed model the intervals assume, with no training: each variant, seed and evaluation image
gets `truth + seed effect + image effect + variant-by-image effect + noise`, the image effect
shared by every variant (the benchmark's draw of images), the seed effect partly shared by the
variants of one seed (their common sample of the world). Scenarios set the truth: all null
(no variant differs from the baseline on anything), or every variant a claim chooses
differing by `effect` points in the paper's direction. `calibrate` runs them and counts, per
conclusion, how often it said "agrees" and "disagrees": under the null both are false
verdicts; with an effect, "agrees" is the power. Only the per-question bookkeeping
(`Study._units`, tested on fabricated stores) is bypassed: the tables of paired differences
come straight from the draws.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablations.findings import TESTS, Finding, findings
from ablations.spec import SweepSpec, Variant
from ablations.stats import Table
from ablations.study import Study

PERCENT_METRICS = (
    "openvqa/overall",
    "openvqa_video/overall",
    "compliance/overall",
    "compliance/detailed",
    "llm_compliance/overall",
    "hallucination/chair_s",
)
SEED_ONLY_METRICS = ("stage2/val_loss_area",)  # no per-question records: over seeds alone
SAME_ITEMS = {"llm_compliance/overall": "compliance/overall"}  # asked the very same questions
LLM = "its LLM"  # claim 1's other side: the baseline's own LLM, a pseudo-variant here


@dataclass(frozen=True)
class Noise:
    """The crossed model's spread, in points (a seed-only metric's in its own units)."""

    seed_sd: float = 2.5  # one variant's seed-to-seed SD
    shared_seed: float = 0.5  # share of the seed variance common to one seed's variants
    image_sd: float = 15.0  # an image's difficulty, shared by every variant
    interaction_sd: float = 8.0  # a variant's own difficulty of an image
    noise_sd: float = 12.0  # what is left, per run and image (its questions' luck)
    images: int = 380
    seed_only_sd: float = 0.02  # e.g. a held-out loss area's seed-to-seed SD


@dataclass
class SimulatedStudy(Study):
    """A `Study` whose per-seed values and per-image tables are drawn, not recorded."""

    draws: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (S, K) or (S,)
    shared: dict = field(default_factory=dict, repr=False)  # pure results shared by studies

    def __post_init__(self) -> None:
        self._groups = list(dict.fromkeys(v.group for v in self.variants))
        self._seeds = sorted({v.seed for v in self.variants})

    @property
    def groups(self) -> list[str]:
        return self._groups

    @property
    def seeds(self) -> list[int]:
        return self._seeds

    def values(self, group: str, metric: str) -> dict[int, float]:
        found = self.draws.get((group, metric))
        if found is None:
            return {}
        per_seed = found.mean(axis=1) if found.ndim == 2 else found
        return dict(zip(self.seeds, map(float, per_seed), strict=True))

    def _table(self, group, metric, seeds, against=None, against_metric=None) -> Table | None:
        mine = self.draws.get((group, metric))
        if mine is None or mine.ndim != 2:
            return None
        rows = [self.seeds.index(s) for s in seeds]
        diff = mine[rows]
        if against is not None:
            diff = diff - self.draws[against, against_metric][rows]
        return Table(diff / diff.shape[1], np.ones(diff.shape[1]), np.zeros(diff.shape[1]))

    def differences(self, group: str, results_only: bool = False):
        key = ("differences", group, results_only)
        if key not in self.shared:
            self.shared[key] = super().differences(group, results_only)
        return self.shared[key]


def chosen_groups(study: Study) -> dict[str, list[str]]:
    """Claim id → the variants the findings' selection picks for it on this sweep."""
    return {t.id: t.select(study)[0] for _, tests in TESTS.values() for t in tests}


def _draw(
    variants: list[Variant],
    truth: dict[tuple[str, str], float],
    noise: Noise,
    rng: np.random.Generator,
) -> dict[tuple[str, str], np.ndarray]:
    groups = list(dict.fromkeys(v.group for v in variants))
    seeds = len({v.seed for v in variants})
    k = noise.images
    draws, images = {}, {}
    for metric in PERCENT_METRICS:
        image = images.setdefault(SAME_ITEMS.get(metric, metric), rng.normal(0, noise.image_sd, k))
        common = rng.normal(0, noise.seed_sd * math.sqrt(noise.shared_seed), seeds)
        own_sd = noise.seed_sd * math.sqrt(1 - noise.shared_seed)
        for group in [*groups, LLM]:
            seed = common + rng.normal(0, own_sd, seeds)
            mine = rng.normal(0, noise.interaction_sd, k)
            luck = rng.normal(0, noise.noise_sd, (seeds, k))
            mean = truth.get((group, metric), 0.0)
            draws[group, metric] = mean + seed[:, None] + (image + mine)[None, :] + luck
    for metric in SEED_ONLY_METRICS:
        common = rng.normal(0, noise.seed_only_sd * math.sqrt(noise.shared_seed), seeds)
        own = noise.seed_only_sd * math.sqrt(1 - noise.shared_seed)
        for group in groups:
            draws[group, metric] = (
                truth.get((group, metric), 0.0) + common + rng.normal(0, own, seeds)
            )
    return draws


def _truth(chosen: dict[str, list[str]], effect: float, noise: Noise) -> dict:
    """Every chosen variant `effect` points away in its claim's direction (a seed-only
    metric's as many of its seed SDs as `effect` is of a percent metric's)."""
    truth: dict[tuple[str, str], float] = {}
    if effect == 0:
        return truth
    for _, tests in TESTS.values():
        for test in tests:
            size = effect
            if test.metric not in PERCENT_METRICS:
                size = effect / noise.seed_sd * noise.seed_only_sd
            for group in chosen[test.id]:
                truth[group, test.metric] = test.claim * size
    truth[LLM, "llm_compliance/overall"] = effect  # claim 1: the baseline complies less
    return truth


def simulate(
    spec: SweepSpec,
    variants: list[Variant],
    truth: dict,
    noise: Noise,
    rng: np.random.Generator,
    shared: dict,
) -> list[Finding]:
    """One simulated study of `spec`'s variants: its findings."""
    draws = _draw(variants, truth, noise, rng)
    study = SimulatedStudy(spec, pd.DataFrame(), None, variants, draws=draws, shared=shared)
    if LLM in {g for g, _ in study.draws}:  # claim 1 compares the baseline with its LLM
        study.draws[spec.baseline, "llm_compliance/overall"] = study.draws[
            LLM, "llm_compliance/overall"
        ]
    return findings(study)


def calibrate(
    spec: SweepSpec,
    effects: Iterable[float] = (0.0,),
    studies: int = 1000,
    noise: Noise = Noise(),
    seed: int = 0,
) -> pd.DataFrame:
    """Per effect size and conclusion: the share of simulated studies that said 'agrees'
    and 'disagrees', and how many claims of it the sweep tests."""
    rng = np.random.default_rng(seed)
    shared: dict = {}
    variants = spec.expand()
    probe = SimulatedStudy(spec, pd.DataFrame(), None, variants, shared=shared)
    chosen = chosen_groups(probe)
    rows = []
    for effect in effects:
        truth = _truth(chosen, effect, noise)
        counts: dict[int, Counter] = {}
        for _ in range(studies):
            for finding in simulate(spec, variants, truth, noise, rng, shared):
                counts.setdefault(finding.number, Counter())[finding.verdict] += 1
        for number, seen in sorted(counts.items()):
            rows.append(
                {
                    "effect": effect,
                    "conclusion": number,
                    "agrees": seen["agrees"] / studies,
                    "disagrees": seen["disagrees"] / studies,
                    "inconclusive": seen["inconclusive"] / studies,
                    "not tested": seen["not tested"] / studies,
                }
            )
    return pd.DataFrame(rows)
