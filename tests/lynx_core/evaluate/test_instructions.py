"""Answer-length statistics and compliance with length instructions."""

from __future__ import annotations

import pytest

from lynx_core.evaluate.instructions import compliance, length_stats

LONG = "the image shows two red squares next to a small blue circle on grey"


def test_length_stats_show_whether_a_model_answers_short_or_long():
    stats = length_stats(["red", "two", LONG, ""])
    assert stats["length/one_word_share"] == 50 and stats["length/empty_share"] == 25
    assert stats["length/long_share"] == 25 and stats["length/median_words"] == 1
    assert stats["length/mean_words"] == pytest.approx((1 + 1 + 14 + 0) / 4)
    assert length_stats([]) == {}


def test_compliance_is_counted_per_instruction_kind():
    answers = ["red", "a red one", LONG, "red", "blue"]
    instructions = ["one_word", "one_word", "detailed", "detailed", None]
    metrics = compliance(answers, instructions)
    assert metrics == {
        "compliance/one_word": 50.0,
        "compliance/one_word_n": 2.0,
        "compliance/detailed": 50.0,
        "compliance/detailed_n": 2.0,
        "compliance/overall": 50.0,
    }
    only_short = compliance(["red", "blue"], ["one_word", "detailed"])
    assert only_short["compliance/overall"] == 50.0  # obeys one direction of two
