"""Intervals: Student t over seeds, differences paired by seed, paired bootstraps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ablations.stats import bootstrap_delta, mean_interval, paired_delta

scores = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(st.lists(scores, min_size=2, max_size=8))
def test_the_mean_interval_is_students_t(values):
    found = mean_interval(values)
    mean = float(np.mean(values))
    assert found.value == pytest.approx(mean) and found.n == len(values) and found.method == "t"
    if np.std(values) == 0:
        assert found.low == pytest.approx(mean) and found.high == pytest.approx(mean)
        return
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
