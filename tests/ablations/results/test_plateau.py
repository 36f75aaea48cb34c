"""A comparison between runs tuned apart, across the candidates their tuning did not tell
apart (`ablations.results.plateau`)."""

from __future__ import annotations

import pandas as pd
import pytest

from ablations.results.plateau import plateau_spread


class Candidates:
    """The tuning candidates' per-seed metric, as `Study.values` gives it."""

    def __init__(self, values: dict[str, dict[int, float]]):
        self._values = values

    def values(self, group: str, metric: str) -> dict[int, float]:
        return self._values.get(group, {}) if metric == "m" else {}


VALUES = {
    "cross.tune0": {8: 40.0, 9: 44.0},
    "cross.tune1": {8: 50.0, 9: 52.0},
    "lynx.tune0": {8: 48.0, 9: 50.0},
    "lynx.tune1": {8: 60.0, 9: 62.0},
}


def test_a_sign_that_holds_across_both_plateaus_is_said_to_hold():
    spread = plateau_spread(
        Candidates(VALUES), {"cross": [1, 0], "lynx": [1]}, "cross", "lynx", "m", claim=-1
    )
    assert (spread.lowest, spread.highest, spread.pairs, spread.leaning) == (-19, -10, 2, 2)
    assert "every pair on the paper's side" in spread.sentence("cross", "lynx", -1)


def test_a_sign_that_turns_within_the_plateaus_is_said_to_turn():
    """cross's best (51) beats lynx's runner-up (49), which its tuning did not tell from its
    choice: another choice on lynx's plateau would have flipped the comparison."""
    spread = plateau_spread(
        Candidates(VALUES), {"cross": [1], "lynx": [1, 0]}, "cross", "lynx", "m", claim=-1
    )
    assert (spread.lowest, spread.highest, spread.leaning) == (-10, pytest.approx(2), 1)
    text = spread.sentence("cross", "lynx", -1)
    assert "1 of 2 on the paper's side, so the sign turns with the choice" in text


def test_no_spread_where_a_side_has_no_plateau_or_no_candidate_has_the_metric():
    plateaus = {"cross": [1], "lynx": [1, 0]}
    candidates = Candidates(VALUES)
    assert plateau_spread(candidates, plateaus, "noisy", "lynx", "m", claim=-1) is None
    assert plateau_spread(candidates, plateaus, "cross", "lynx", "other", claim=-1) is None
    apart = Candidates({"cross.tune1": {8: 1.0}, "lynx.tune1": {9: 2.0}})  # no common seed
    assert plateau_spread(apart, plateaus, "cross", "lynx", "m", claim=-1) is None


def test_a_choice_whose_every_rival_failed_has_a_plateau_of_one():
    """Won by default: nothing to tell it from, nothing else on its plateau."""
    from ablations.results.choices import plateaus, unsettled

    numbers = pd.DataFrame(
        {
            "variant": ["lynx", "lynx"],
            "candidate": [0, 1],
            "train.stage2.lr": [0.001, 0.01],
            "chosen": [True, False],
            "vs chosen": [float("nan")] * 2,  # the choice; a candidate that failed
            "vs chosen low": [float("nan")] * 2,
            "vs chosen high": [float("nan")] * 2,
            "vs chosen method": ["none"] * 2,
        }
    )
    assert plateaus(numbers) == {"lynx": [0]}
    assert unsettled(numbers, ["train.stage2.lr"]) == {
        "lynx": "train.stage2.lr=0.001, the only candidate that finished"
    }
