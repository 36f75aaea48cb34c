"""Judge-vs-human agreement and Cohen's kappa on hand-computed cases."""

from __future__ import annotations

import pytest

from lynx_core.evaluate.agreement import agreement


def test_agreement_and_kappa_match_a_hand_computed_table():
    # 10 questions: both right 4, both wrong 4, judge right/human wrong 1, the reverse 1
    judge = {f"q{i}": v for i, v in enumerate([True] * 5 + [False] * 5)}
    human = {f"q{i}": v for i, v in enumerate([True] * 4 + [False] + [True] + [False] * 4)}
    result = agreement(judge, human)
    assert result["agreement"] == pytest.approx(80.0)
    # p_o = 0.8, p_e = 0.5*0.5 + 0.5*0.5 = 0.5, kappa = (0.8 - 0.5) / 0.5
    assert result["kappa"] == pytest.approx(0.6)


def test_undecided_and_unrated_questions_are_counted_not_compared():
    judge = {"a": True, "b": None, "c": False, "d": True}
    human = {"a": True, "b": False, "c": False}
    result = agreement(judge, human)
    assert result["compared"] == 2 and result["agreement"] == 100.0
    assert result["undecided_by_judge"] == 1 and result["without_human_verdict"] == 1
    with pytest.raises(ValueError, match="no question"):
        agreement({"a": None}, {"a": True})
