"""No NaN is a result: a headline that is not a number fails evaluation, a secondary one is
left out."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lynx_core.evaluate.finite import HEADLINE_METRICS, EvaluationFailed, finite_metrics

NOT_A_NUMBER = st.sampled_from([math.nan, math.inf, -math.inf])


@given(headline=st.sampled_from(HEADLINE_METRICS), value=NOT_A_NUMBER)
def test_a_headline_that_is_not_a_number_fails_naming_it(headline, value):
    with pytest.raises(EvaluationFailed, match=f"{headline} is {value}"):
        finite_metrics({headline: value, "length/mean_words": 3.0})


@given(
    metrics=st.dictionaries(
        st.sampled_from(["openvqa/Color/acc", "pope/f1", "length/mean_words", *HEADLINE_METRICS]),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    secondary=st.dictionaries(st.sampled_from(["openvqa/Shape/acc", "mme/OCR/acc"]), NOT_A_NUMBER),
)
def test_finite_metrics_are_kept_and_secondary_ones_without_a_number_left_out(metrics, secondary):
    assert finite_metrics({**metrics, **secondary}) == metrics


def test_the_reason_counts_the_undecided_answers():
    with pytest.raises(EvaluationFailed, match="decided none of its answers \\(12 undecided"):
        finite_metrics({"openvqa/overall": math.nan, "openvqa/undecided": 12.0})
