"""The findings' false-verdict rates and power, from thousands of simulated studies of the
paper sweep through the same selection, interval and verdict code
(`ablations.results.calibration`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ablations.results.calibration import Noise, SimulatedStudy, _draw, calibrate, fitted_noise
from ablations.sweep.spec import load_sweep

MAX_FALSE = 0.05  # a conclusion's false 'agrees' or 'disagrees' rate, at most


@pytest.fixture(scope="module")
def paper():
    return load_sweep("sweeps/paper.yaml", check_paths=False)


# the default spread, and one as the toy paper sweep measured it: seeds dominate the items
MEASURED = Noise(seed_sd=4.9, interaction_sd=3.6, noise_sd=11.3, images=384, seed_only_sd=0.06)


@pytest.mark.parametrize("noise", [Noise(), MEASURED], ids=["default", "measured"])
def test_under_the_null_no_conclusion_is_decided_more_than_five_percent_of_the_time(paper, noise):
    rates = calibrate(paper, effects=(0.0,), studies=1000, noise=noise, seed=1)
    rates = rates.set_index("conclusion")
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


def test_every_conclusion_can_disagree_when_the_truth_is_the_other_way(paper):
    """The same effect against the paper's direction: at 16 points each conclusion says
    'disagrees' (and never 'agrees'); at 4, where power is partial at the sweep's eight
    seeds (at 6 it is all but 1), it disagrees about as often as it agrees at +4 (the rules
    do not lean towards the paper)."""
    rates = calibrate(paper, effects=(4.0, -4.0, -16.0), studies=300, seed=3)
    at = {e: rows.set_index("conclusion") for e, rows in rates.groupby("effect")}
    assert (at[-16.0]["disagrees"] >= 0.8).all(), at[-16.0]
    assert (at[-16.0]["agrees"] <= MAX_FALSE).all(), at[-16.0]
    assert at[4.0]["agrees"].between(0.1, 0.9).all(), at[4.0]  # partial
    assert (at[-4.0]["disagrees"] >= at[4.0]["agrees"] - 0.1).all(), (at[4.0], at[-4.0])


def test_a_simulated_variant_has_the_seeds_it_runs(paper):
    """A variant with its own seeds (more where its comparison is noisy) is simulated at
    those, and pairs with the baseline on the seeds both run, as in a study."""
    more = [*paper.seeds, max(paper.seeds) + 1, max(paper.seeds) + 2]
    own = {**paper.variants, "w-cross-attn": {**paper.variants["w-cross-attn"], "seeds": more}}
    paper = paper.model_copy(update={"variants": own})
    variants = paper.expand()
    draws = _draw(variants, {}, Noise(), np.random.default_rng(0))
    study = SimulatedStudy(paper, pd.DataFrame(), None, variants, draws=draws)
    lynx = study.values("lynx", "openvqa/overall")
    cross = study.values("w-cross-attn", "openvqa/overall")
    assert set(lynx) == set(paper.seeds) and set(cross) == set(paper.seeds_of("w-cross-attn"))
    assert len(cross) > len(lynx)


def test_the_noise_a_study_measured_is_the_noise_it_was_drawn_with(paper):
    """`fitted_noise` reads the crossed model's spread back from a study's paired tables, so
    a calibration can run at the noise of the sweep whose verdicts it checks."""
    drawn = Noise(seed_sd=3.0, interaction_sd=6.0, noise_sd=10.0, images=300, seed_only_sd=0.05)
    variants = paper.expand()
    fits = []
    for seed in range(4):
        draws = _draw(variants, {}, drawn, np.random.default_rng(seed))
        study = SimulatedStudy(paper, pd.DataFrame(), None, variants, draws=draws)
        fits.append(fitted_noise(study))
    image = [fit["openvqa/overall"] for fit in fits]
    assert all(f.images == 300 for f in image)
    assert np.mean([f.interaction_sd for f in image]) == pytest.approx(6.0, rel=0.1)
    assert np.mean([f.noise_sd for f in image]) == pytest.approx(10.0, rel=0.05)
    assert np.mean([f.seed_sd for f in image]) == pytest.approx(3.0, rel=0.25)
    loss = np.mean([fit["stage2/val_loss_area"].seed_only_sd for fit in fits])
    assert loss == pytest.approx(0.05, rel=0.35)
    assert "llm_compliance/overall" not in fits[0]  # it takes compliance's: the same questions
