"""Intervals: Student t over seeds, differences paired by seed, seeds and items together,
paired bootstraps, and the corrections for many comparisons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ablations.results.stats import (
    Table,
    benjamini_hochberg,
    bootstrap_delta,
    holm,
    mean_interval,
    paired_delta,
    paired_effect,
    resamples_for,
)

scores = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(st.lists(scores, min_size=2, max_size=8))
def test_the_mean_interval_is_students_t(values):
    found = mean_interval(values)
    mean = float(np.mean(values))
    assert found.value == pytest.approx(mean) and found.n == len(values)
    if np.std(values) == 0:  # no variance seen is not no variance: no interval, no verdict
        assert not found.known and found.within_noise and found.p_value == 1
        return
    assert found.method == "t"
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    assert found.low == pytest.approx(low) and found.high == pytest.approx(high)


def test_one_value_has_no_interval_and_counts_as_within_noise():
    one = mean_interval([3.0])
    assert one.value == 3.0 and not one.known and one.within_noise
    assert math.isnan(mean_interval([]).value)


@given(st.dictionaries(st.integers(0, 9), scores, min_size=2), st.floats(-30, 30))
def test_a_paired_delta_is_the_t_interval_of_per_seed_differences(baseline, shift):
    variant = {seed: value + shift + seed for seed, value in baseline.items()}
    variant[99] = 1e6  # a seed the baseline lacks is not paired, so it cannot count
    found = paired_delta(variant, baseline)
    expected = mean_interval([shift + seed for seed in sorted(baseline)])
    assert found.value == pytest.approx(expected.value)
    assert found.half_width == pytest.approx(expected.half_width, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=5, max_size=60), st.floats(-50, 50))
def test_a_bootstrap_delta_moves_with_a_constant_shift(marks, shift):
    baseline = np.array(marks, float) * 100
    found = bootstrap_delta(baseline + shift, baseline)
    assert found.value == pytest.approx(shift)
    assert found.low == pytest.approx(shift) and found.high == pytest.approx(shift)  # paired
    assert found.method == "bootstrap" and found.n == len(marks)


def test_a_bootstrap_interval_has_the_width_of_a_paired_difference():
    """200 questions, 40 discordant (the variant wrong where the baseline is right): the
    difference is -20 points, its standard error sqrt((0.2 - 0.04) / 200) = 2.8 points."""
    baseline = np.array([100.0] * 140 + [0.0] * 60)
    variant = np.array([100.0] * 100 + [0.0] * 100)
    found = bootstrap_delta(variant, baseline)
    assert found.value == pytest.approx(-20)
    assert found.half_width == pytest.approx(1.96 * math.sqrt(0.16 / 200) * 100, rel=0.15)
    assert not found.within_noise


def test_a_stratified_bootstrap_keeps_every_strata_size():
    values = np.arange(10.0)
    strata = np.array(["a"] * 3 + ["b"] * 7)
    in_a = lambda v: float(np.isin(v, values[:3]).sum())  # noqa: E731  (units drawn from a)
    found = bootstrap_delta(values, np.full(10, -1.0), in_a, strata)
    assert found.low == found.high == 3  # every resample draws exactly 3 units of stratum a


def test_questions_about_one_image_are_resampled_together():
    """50 images, 4 questions each, answered alike: 50 independent draws, not 200, so the
    interval is twice as wide as if the questions were independent."""
    rng = np.random.default_rng(1)
    per_image = rng.integers(0, 2, size=(2, 50)).astype(float) * 100
    variant, baseline = (np.repeat(row, 4) for row in per_image)
    images = np.repeat(np.arange(50), 4)
    alone = bootstrap_delta(variant, baseline)
    together = bootstrap_delta(variant, baseline, clusters=images)
    assert together.value == alone.value
    assert together.half_width == pytest.approx(2 * alone.half_width, rel=0.25)


def _crossed(
    rng, seeds=4, images=60, per_image=4, effect=0.0, seed_sd=2.0, image_sd=6.0, noise_sd=20.0
):
    """A paired difference measured on `seeds` runs × the same images' questions: a seed
    effect, an image effect shared by every seed (the evaluation set's draw), and noise per
    question and run; returns (per-seed values, its Table)."""
    a = rng.normal(0, seed_sd, seeds)
    b = rng.normal(0, image_sd, images)
    e = rng.normal(0, noise_sd, (seeds, images, per_image))
    questions = effect + a[:, None, None] + b[None, :, None] + e  # (S, K, n)
    total = images * per_image
    table = Table(questions.sum(axis=2) / total, np.full(images, per_image), np.zeros(images))
    return questions.reshape(seeds, -1).mean(axis=1), table  # fmt: skip


def test_with_no_item_variance_the_seeds_and_items_interval_is_the_t_over_seeds():
    per_seed = np.array([1.0, 3.0, 2.5, 4.0])
    flat = np.repeat(per_seed[:, None] / 10, 10, axis=1)  # every image the same share
    found = paired_effect(Table(flat, np.ones(10), np.zeros(10)))
    expected = mean_interval(per_seed.tolist())
    assert found.method == "seeds+items" and found.df == pytest.approx(3)
    assert (found.low, found.high) == pytest.approx((expected.low, expected.high))


def test_with_no_seed_variance_the_interval_is_the_clustered_bootstraps():
    rng = np.random.default_rng(3)
    per_image = rng.integers(0, 2, size=(2, 80)).astype(float) * 100
    diff = np.repeat(per_image[0] - per_image[1], 3)  # 3 questions an image, answered alike
    clusters = np.repeat(np.arange(80), 3)
    boot = bootstrap_delta(np.repeat(per_image[0], 3), np.repeat(per_image[1], 3),
                           clusters=clusters, resamples=20_000)  # fmt: skip
    table = Table(np.tile(np.bincount(clusters, weights=diff) / len(diff), (3, 1)),
                  np.full(80, 3.0), np.zeros(80))  # fmt: skip
    found = paired_effect(table)
    assert found.value == pytest.approx(boot.value)
    assert found.half_width == pytest.approx(boot.half_width, rel=0.1)


def test_the_seeds_and_items_interval_covers_the_truth_and_the_seeds_alone_do_not():
    """Simulated from the crossed model: the combined interval covers the true difference
    about 95% of the time; the t over seeds, blind to which images the benchmark holds,
    covers it far less when images vary."""
    rng = np.random.default_rng(0)
    covered = {"combined": 0, "seeds": 0}
    runs = 400
    for _ in range(runs):
        per_seed, table = _crossed(rng, effect=3.0, seed_sd=1.0, image_sd=10.0, noise_sd=10.0)
        covered["combined"] += paired_effect(table).low <= 3.0 <= paired_effect(table).high
        seeds_only = mean_interval(per_seed.tolist())
        covered["seeds"] += seeds_only.low <= 3.0 <= seeds_only.high
    assert 0.92 <= covered["combined"] / runs <= 0.99, covered
    assert covered["seeds"] / runs < 0.85, covered


def test_the_minimum_detectable_effect_and_the_seeds_that_would_decide():
    rng = np.random.default_rng(1)
    _, table = _crossed(rng, seeds=4, effect=1.0)
    found = paired_effect(table)
    factor = stats.t.ppf(0.975, found.df) + stats.t.ppf(0.8, found.df)
    assert found.detectable() == pytest.approx(factor * found.se)
    needed = found.seeds_to_decide()
    if needed is not None:  # more seeds shrink the seeds' share only
        assert needed >= 2
    assert paired_effect(Table(table.contributions[:1], table.sizes, table.strata)).n == 1


def test_holm_and_benjamini_hochberg_adjust_as_their_definitions():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_bootstrap_resamples_grow_with_the_level():
    """A percentile interval reads its ends from the draws in each tail: at 99.5% (a
    Bonferroni level), 2,000 resamples leave five draws a tail; 20,000 leave fifty."""
    assert resamples_for(0.95) == 2000 and resamples_for(0.995) == 20_000


def test_the_seeds_for_a_target_are_the_fewest_whose_test_has_the_power():
    """Seed SD 4 over 4 paired seeds, no item noise: the planned number is the smallest n
    with (t₀.₉₇₅ + t₀.₈ on n − 1 df) · 4 / √n ≤ the target; items' noise that alone exceeds
    the target leaves no number of seeds enough."""
    from ablations.results.stats import Components, Estimate

    def mde(n: int) -> float:
        return (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * 4.0 / np.sqrt(n)

    seeds_only = Estimate(2.0, -1, 5, 4, "t", parts=Components(seed=16.0 / 4, seeds=4))
    for target in (8.0, 4.0, 2.5):
        n = seeds_only.seeds_for(target)
        assert n is not None and mde(n) <= target < mde(n - 1), (target, n)
    assert seeds_only.seeds_for(8.0) < seeds_only.seeds_for(4.0) < seeds_only.seeds_for(2.5)
    with_items = Estimate(
        2.0, -1, 5, 4, "seeds+items", parts=Components(seed=4.0, item=9.0, seeds=4, clusters=300)
    )
    assert with_items.seeds_for(4.0) is None  # 2.8 × SE 3 > 4 whatever the seeds
    assert with_items.seeds_for(12.0) is not None


def test_variance_shares_add_up_and_find_the_part_that_moves():
    """One class flips between learned and not across seeds, the others barely move: it
    holds nearly all of the sum's seed-to-seed variance; the shares always add up to 1."""
    from ablations.results.stats import variance_shares

    rng = np.random.default_rng(0)
    flips = np.array([12.0, 0.0, 12.0, 12.0, 0.0, 12.0])
    parts = {"Color": flips + rng.normal(0, 0.2, 6), "Counting": rng.normal(5, 0.2, 6),
             "OCR": rng.normal(1, 0.2, 6)}  # fmt: skip
    shares = variance_shares(parts)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["Color"] > 0.95 and abs(shares["Counting"]) < 0.05
    assert variance_shares({"a": [1.0, 1.0], "b": [2.0, 2.0]}) == {}  # nothing varies
    assert variance_shares({"a": [1.0]}) == {}  # one seed: no spread to share


@given(st.lists(st.lists(st.floats(-50, 50), min_size=3, max_size=3), min_size=1, max_size=5))
@settings(max_examples=50, deadline=None)
def test_variance_shares_always_add_up_to_one(rows):
    from ablations.results.stats import variance_shares

    shares = variance_shares({f"c{i}": row for i, row in enumerate(rows)})
    if shares:
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)
