"""What tuning.md and findings.md read of each choice (`ablations.results.choices`); the
table itself is tested on a recorded store in test_report.py."""

from __future__ import annotations

import math

import pandas as pd

from ablations.results.choices import plateaus, unsettled


def test_a_choice_whose_every_rival_failed_has_a_plateau_of_one():
    """Won by default: nothing to tell it from, nothing else on its plateau."""
    numbers = pd.DataFrame(
        {
            "variant": ["lynx", "lynx"],
            "candidate": [0, 1],
            "train.stage2.lr": [0.001, 0.01],
            "chosen": [True, False],
            "vs chosen": [math.nan] * 2,  # the choice; a candidate that failed
            "vs chosen low": [math.nan] * 2,
            "vs chosen high": [math.nan] * 2,
            "vs chosen method": ["none"] * 2,
        }
    )
    assert plateaus(numbers) == {"lynx": [0]}
    assert unsettled(numbers, ["train.stage2.lr"]) == {
        "lynx": "train.stage2.lr=0.001, the only candidate that finished"
    }
