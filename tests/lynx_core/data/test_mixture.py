"""Mixtures draw sources by ratio, deterministically, and a restarted run sees the same batches."""

from __future__ import annotations

from collections import Counter

import pytest

from lynx_core.data.examples import Example
from lynx_core.data.mixture import Mixture, normalised
from lynx_core.data.stage_data import passes_quality_filter


def pools() -> dict[str, list[Example]]:
    return {
        name: [Example(i, "image", f"{name} {i}", "a", "X", name) for i in range(size)]
        for name, size in (("a", 10), ("b", 30), ("c", 5))
    }


def test_sources_are_drawn_by_ratio_and_ratio_zero_never():
    weights = normalised({"a": 3.0, "b": 1.0, "c": 0.0}, ["a", "b", "c"])
    assert weights == {"a": 0.75, "b": 0.25}
    mixture = Mixture(pools(), weights, batch_size=4, seed=0)
    drawn = Counter(mixture.batch(step)[0] for step in range(2000))
    assert set(drawn) == {"a", "b"}
    assert abs(drawn["a"] / 2000 - 0.75) < 0.03


def test_batches_are_a_pure_function_of_seed_and_step():
    weights = normalised({"a": 1, "b": 1, "c": 1}, ["a", "b", "c"])
    first = Mixture(pools(), weights, batch_size=4, seed=7)
    steps = [first.batch(s) for s in range(50)]
    restarted = Mixture(pools(), weights, batch_size=4, seed=7)  # e.g. after a crash
    assert restarted.batch(37) == steps[37]
    assert [restarted.batch(s) for s in range(50)] == steps
    other = Mixture(pools(), weights, batch_size=4, seed=8)
    assert [other.batch(s) for s in range(50)] != steps


def test_a_source_is_walked_in_epochs_without_repeats():
    weights = normalised({"c": 1.0}, ["c"])
    mixture = Mixture(pools(), weights, batch_size=5, seed=0)
    _, epoch = mixture.batch(0)
    assert sorted(e.media for e in epoch) == list(range(5))


def test_all_zero_or_negative_ratios_are_refused():
    with pytest.raises(ValueError, match="no source left"):
        normalised({"a": 0.0}, ["a", "b"])
    with pytest.raises(ValueError, match="≥ 0"):
        normalised({"a": -1.0, "b": 2.0}, ["a", "b"])


def test_quality_filter_drops_short_and_stock_photo_captions():
    assert passes_quality_filter("two red squares at the beach")
    assert not passes_quality_filter("red squares")
    assert not passes_quality_filter("free hd red squares photo")
