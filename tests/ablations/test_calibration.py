"""The findings' false-verdict rates and power, from thousands of simulated studies of the
paper sweep through the same selection, interval and verdict code (`ablations.calibration`)."""

from __future__ import annotations

import pytest

from ablations.calibration import calibrate
from ablations.spec import load_sweep

MAX_FALSE = 0.05  # a conclusion's false 'agrees' or 'disagrees' rate, at most


@pytest.fixture(scope="module")
def paper():
    return load_sweep("sweeps/paper.yaml", check_paths=False)


def test_under_the_null_no_conclusion_is_decided_more_than_five_percent_of_the_time(paper):
    rates = calibrate(paper, effects=(0.0,), studies=1000, seed=1).set_index("conclusion")
    assert len(rates) == 6 and (rates["not tested"] == 0).all()  # every conclusion is tested
    assert (rates["agrees"] <= MAX_FALSE).all(), rates
    assert (rates["disagrees"] <= MAX_FALSE).all(), rates


@pytest.mark.slow
def test_power_grows_with_the_effect_and_false_disagreements_stay_rare(paper):
    """A true effect in the paper's direction, of each size, for every variant a claim
    chooses: how often each conclusion says so (its power)."""
    rates = calibrate(paper, effects=(4.0, 8.0, 16.0), studies=400, seed=2)
    for _, rows in rates.groupby("conclusion"):
        agrees = rows.sort_values("effect")["agrees"].tolist()
        assert agrees == sorted(agrees), rows  # more effect, more power
        assert (rows["disagrees"] <= MAX_FALSE).all(), rows
    assert (rates[rates["effect"] == 16.0]["agrees"] >= 0.8).all(), rates
