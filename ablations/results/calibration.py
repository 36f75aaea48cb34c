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

The spread is a guess (`Noise()`) unless it is measured: `fitted_noise` reads it back from a
finished sweep's own tables, and `make calibrate NAME=<sweep>` runs the calibration at it, so
the rates describe the verdicts of that very sweep.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ablations.results.findings import TESTS, Finding, findings
from ablations.results.stats import Table
from ablations.results.study import Study
from ablations.sweep.spec import SweepSpec
from ablations.sweep.variant import Variant

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
        self._own: dict[str, set[int]] = {}  # group → the seeds it runs (its own, or the sweep's)
        for v in self.variants:
            self._own.setdefault(v.group, set()).add(v.seed)

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
        own = self._own.get(group, set(self.seeds))  # drawn at every seed, run at its own
        return {s: float(v) for s, v in zip(self.seeds, per_seed, strict=True) if s in own}

    def _table(self, group, metric, seeds, against=None, against_metric=None) -> Table | None:
        mine = self.draws.get((group, metric))
        if mine is None or mine.ndim != 2:
            return None
        rows = [self.seeds.index(s) for s in seeds]
        diff = mine[rows]
        if against is not None:
            diff = diff - self.draws[against, against_metric or metric][rows]
        return Table(diff / diff.shape[1], np.ones(diff.shape[1]), np.zeros(diff.shape[1]))

    def differences(self, group: str, results_only: bool = False):
        key = ("differences", group, results_only)
        if key not in self.shared:
            self.shared[key] = super().differences(group, results_only)
        return self.shared[key]


Noises = Mapping[str, Noise]  # metric → its spread; a metric not named takes the default


def _noise(noise: Noise | Noises, metric: str) -> Noise:
    if isinstance(noise, Noise):
        return noise
    return noise.get(SAME_ITEMS.get(metric, metric)) or Noise()


def table_noise(table: Table, shared_seed: float = 0.5) -> tuple[float, float, float]:
    """Method-of-moments estimates of the crossed model's seed, interaction and noise SDs
    from one seeds × images table of paired differences (each image's mean difference per
    seed): in a paired difference the image effect cancels, the seed effect keeps its
    unshared part, a variant's own difficulty of an image its two draws, the noise its two."""
    weights = table.sizes / table.sizes.sum()
    d = np.asarray(table.contributions, float) / weights  # (S, K): per-image differences
    seeds, images = d.shape
    if seeds < 2 or images < 2:
        return math.nan, math.nan, math.nan
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    residual = d - rows[:, None] - cols[None, :] + d.mean()
    cell = float((residual**2).sum()) / ((seeds - 1) * (images - 1))  # 2·noise²
    interaction = max(float(cols.var(ddof=1)) - cell / seeds, 0.0)  # 2·interaction²
    seed = max(float(rows.var(ddof=1)) - cell / images, 0.0)  # 2·(1 − shared)·seed²
    return (
        math.sqrt(seed / (2 * (1 - shared_seed))),
        math.sqrt(interaction / 2),
        math.sqrt(cell / 2),
    )


def fitted_noise(study: Study, shared_seed: float = 0.5) -> dict[str, Noise]:
    """Per metric, the spread this study measured: `table_noise`'s variances averaged over
    its variants' paired comparisons with the baseline (a seed-only metric's SD from its per-seed
    differences, as is a percent metric's without per-question records), so that the
    calibration asks how often verdicts err at the noise of the sweep that made them, not at
    a guess. A metric no comparison measures is left out."""
    base = study.baseline
    found: dict[str, list[tuple[float, ...]]] = {}
    for group in (g for g in study.groups if g != base):
        for metric in (*PERCENT_METRICS, *SEED_ONLY_METRICS):
            if metric in SAME_ITEMS:  # its comparison is with the LLM, not a variant
                continue
            mine, theirs = study.values(group, metric), study.values(base, metric)
            seeds = sorted(set(mine) & set(theirs))
            if len(seeds) < 2:
                continue
            table = (
                None
                if metric in SEED_ONLY_METRICS
                else study._table(group, metric, seeds, base, metric)
            )
            if table is not None:
                parts = (*table_noise(table, shared_seed), len(table.sizes))
            else:  # no per-question records: all of its spread is the seeds'
                diffs = np.array([mine[s] - theirs[s] for s in seeds])
                sd = float(diffs.std(ddof=1)) / math.sqrt(2 * (1 - shared_seed))
                parts = (sd, 0.0, 0.0, 0) if metric in PERCENT_METRICS else (sd,)
            found.setdefault(metric, []).append(parts)
    fitted = {}
    for metric, rows in found.items():
        pooled = np.sqrt(np.nanmean(np.array(rows, float) ** 2, axis=0))  # variances averaged
        if metric in SEED_ONLY_METRICS:
            fitted[metric] = replace(
                Noise(), shared_seed=shared_seed, seed_only_sd=float(pooled[0])
            )
            continue
        seed, interaction, noise, images = map(float, pooled)
        images = images or 2  # seeds alone: two identical images carry the seeds' values
        fitted[metric] = replace(
            Noise(),
            seed_sd=seed,
            shared_seed=shared_seed,
            interaction_sd=interaction,
            noise_sd=noise,
            images=int(images),
        )
    return fitted


def chosen_groups(study: Study) -> dict[str, list[str]]:
    """Claim id → the variants the findings' selection picks for it on this sweep."""
    return {t.id: t.select(study)[0] for _, tests in TESTS.values() for t in tests}


def _draw(
    variants: list[Variant],
    truth: dict[tuple[str, str], float],
    noise: Noise | Noises,
    rng: np.random.Generator,
) -> dict[tuple[str, str], np.ndarray]:
    groups = list(dict.fromkeys(v.group for v in variants))
    seeds = len({v.seed for v in variants})
    draws, images = {}, {}
    for metric in PERCENT_METRICS:
        spread = _noise(noise, metric)
        k = spread.images
        image = images.setdefault(SAME_ITEMS.get(metric, metric), rng.normal(0, spread.image_sd, k))
        common = rng.normal(0, spread.seed_sd * math.sqrt(spread.shared_seed), seeds)
        own_sd = spread.seed_sd * math.sqrt(1 - spread.shared_seed)
        for group in [*groups, LLM]:
            seed = common + rng.normal(0, own_sd, seeds)
            mine = rng.normal(0, spread.interaction_sd, k)
            luck = rng.normal(0, spread.noise_sd, (seeds, k))
            mean = truth.get((group, metric), 0.0)
            draws[group, metric] = mean + seed[:, None] + (image + mine)[None, :] + luck
    for metric in SEED_ONLY_METRICS:
        spread = _noise(noise, metric)
        common = rng.normal(0, spread.seed_only_sd * math.sqrt(spread.shared_seed), seeds)
        own = spread.seed_only_sd * math.sqrt(1 - spread.shared_seed)
        for group in groups:
            draws[group, metric] = (
                truth.get((group, metric), 0.0) + common + rng.normal(0, own, seeds)
            )
    return draws


def _truth(chosen: dict[str, list[str]], effect: float, noise: Noise | Noises) -> dict:
    """Every chosen variant `effect` points away in its claim's direction, or against it
    where `effect` < 0 (a seed-only metric's as many of its seed SDs as `effect` is of image
    Overall's)."""
    truth: dict[tuple[str, str], float] = {}
    if effect == 0:
        return truth
    for _, tests in TESTS.values():
        for test in tests:
            size = effect
            if test.metric not in PERCENT_METRICS:
                image = _noise(noise, "openvqa/overall").seed_sd
                size = effect / image * _noise(noise, test.metric).seed_only_sd
            for group in chosen[test.id]:
                truth[group, test.metric] = test.claim * size
    truth[LLM, "llm_compliance/overall"] = effect  # claim 1: the baseline complies less
    return truth


def simulate(
    spec: SweepSpec,
    variants: list[Variant],
    truth: dict,
    noise: Noise | Noises,
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
    noise: Noise | Noises = Noise(),
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


# effects in the paper's direction ('agrees' is the power) and against it ('disagrees' is the
# power to disagree): a verdict the instrument could only give one way would be no evidence
CALIBRATION_EFFECTS = (0.0, 4.0, 8.0, 16.0, -8.0, -16.0)


def calibration_markdown(
    experiment: str, noise: Mapping[str, Noise], rates: pd.DataFrame, studies: int
) -> str:
    """`calibration.md`: the noise the sweep measured, then per effect size and conclusion
    how often the findings said what, over `studies` simulated studies each."""
    spread = pd.DataFrame(
        {
            "metric": metric,
            "seed SD": n.seed_only_sd if metric in SEED_ONLY_METRICS else n.seed_sd,
            "image × variant SD": math.nan if metric in SEED_ONLY_METRICS else n.interaction_sd,
            "per-run item SD": math.nan if metric in SEED_ONLY_METRICS else n.noise_sd,
            "images": n.images if metric not in SEED_ONLY_METRICS else 0,
        }
        for metric, n in noise.items()
    )
    null = rates[rates["effect"] == 0]
    worst = max(null["agrees"].max(), null["disagrees"].max()) if not null.empty else math.nan
    shown = rates.drop(columns="not tested").copy()
    for column in ("agrees", "disagrees", "inconclusive"):
        shown[column] = (shown[column] * 100).map("{:.1f}%".format)
    return "\n".join(
        [
            f"# {experiment}: how often its verdicts err",
            "",
            f"{studies} simulated studies per effect size of this sweep's own variants, drawn "
            "from the crossed model (seeds × images) at the spread this sweep measured, "
            "through the same selection, interval and verdict code as `findings.md` "
            "(`ablations/results/calibration.py`). Effect 0: no variant differs from the "
            "baseline, so "
            "every 'agrees' or 'disagrees' is false; the largest such rate here is "
            f"{worst * 100:.1f}%. Effect > 0: every variant a claim chooses differs by that "
            "many points in the paper's direction, so 'agrees' is the power; effect < 0: that "
            "many the other way, so 'disagrees' is the power to disagree.",
            "",
            "## The measured spread",
            "",
            spread.to_markdown(index=False, floatfmt=".3g"),
            "",
            "## Verdict rates",
            "",
            shown.to_markdown(index=False),
            "",
        ]
    )
