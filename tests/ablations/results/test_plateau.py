"""A comparison between runs tuned apart, across the candidates their tuning did not tell
apart (`ablations.results.plateau`)."""

from __future__ import annotations

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


def spread_of(plateaus: dict, claim: int, values: dict = VALUES):
    return plateau_spread(Candidates(values), plateaus, "cross", "lynx", "m", claim)


def test_a_sign_that_holds_across_both_plateaus_is_said_to_hold():
    spread = spread_of({"cross": [1, 0], "lynx": [1]}, claim=-1)
    assert (spread.lowest, spread.highest, spread.at_choices) == (-19, -10, -10)
    assert (spread.pairs, spread.leaning, spread.opposing, spread.seeds) == (2, 2, 0, (8, 9))
    text = spread.sentence("cross", "lynx")
    assert "ranges from -19 to -10 over 2 pairs (-10 at the two choices" in text
    assert text.endswith("every pair on the paper's side.")


def test_the_paper_saying_higher_reads_the_same_numbers_the_other_way():
    spread = spread_of({"cross": [1, 0], "lynx": [1]}, claim=+1)
    assert (spread.leaning, spread.opposing) == (0, 2)
    assert spread.sentence("cross", "lynx").endswith("every pair on the other side.")


def test_a_sign_that_turns_within_the_plateaus_is_said_to_turn():
    """cross's choice (51) beats lynx's runner-up (49), which its tuning did not tell from
    its choice: another choice on lynx's plateau might have flipped the comparison."""
    spread = spread_of({"cross": [1], "lynx": [1, 0]}, claim=-1)
    assert (spread.lowest, spread.highest) == (-10, pytest.approx(2))
    assert (spread.leaning, spread.opposing) == (1, 1)
    text = spread.sentence("cross", "lynx")
    assert "1 on the paper's side, 1 on the other, so which of these candidates" in text


def test_a_difference_of_zero_leans_neither_way():
    values = {**VALUES, "lynx.tune0": {8: 50.0, 9: 52.0}}  # the same as cross's choice
    spread = spread_of({"cross": [1], "lynx": [1, 0]}, claim=-1, values=values)
    assert (spread.leaning, spread.opposing) == (1, 0)
    assert "1 on the paper's side, 0 on the other" in spread.sentence("cross", "lynx")


def test_no_spread_without_a_plateau_on_both_sides_two_shared_seeds_or_two_pairs():
    plateaus = {"cross": [1], "lynx": [1, 0]}
    assert plateau_spread(Candidates(VALUES), plateaus, "noisy", "lynx", "m", -1) is None
    assert plateau_spread(Candidates(VALUES), plateaus, "cross", "lynx", "other", -1) is None
    assert spread_of({"cross": [1], "lynx": [1]}, claim=-1) is None  # the choices alone
    one_seed = {group: {8: v[8]} for group, v in VALUES.items()}  # its luck, not the rate's
    assert spread_of(plateaus, claim=-1, values=one_seed) is None
    apart = {**VALUES, "lynx.tune0": {9: 50.0, 10: 51.0}}  # shares only seed 9 with the rest
    assert spread_of(plateaus, claim=-1, values=apart) is None


def test_the_spread_is_read_only_where_tuning_measured_the_metric_as_the_study_did(tmp_path):
    """At paper scale the test is the released Open-VQA and the validation the generated
    world's questions: not one comparison. A held-out training loss is the same for both."""
    from types import SimpleNamespace

    from ablations.results.findings_markdown import _measured_alike
    from tests.tiny import tiny_config

    released = tiny_config(**{"eval.openvqa_image": {"path": str(tmp_path / "q.jsonl")}})
    for config, alike in ((tiny_config(), True), (released, False)):
        study = SimpleNamespace(baseline="lynx", config=lambda group, c=config: c)
        assert _measured_alike(study, "openvqa/overall") is alike
        assert _measured_alike(study, "stage2/val_loss_area")
