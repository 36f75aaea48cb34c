"""Fair tuning: each variant a sweep names chooses its own value of some fields (its new
modules' learning rate, say) by a metric on the validation split, before the test is read.

A sweep's `tune:` section lists the variants, the candidates (zipped lists of values) and the
metric. The tuning candidates run first as a sweep of their own (`SweepSpec.tuning`: each
tuned variant with each candidate, on the tuning seeds, evaluated on the validation split,
recorded in MLflow with the role 'tuning'); `choices` picks each variant's best from their
scores (`ablations.tracking.recorded.tuning_scores`); the study then runs with them
(`SweepSpec.with_choices`). A candidate whose stages equal a final run's (the chosen value,
the same seed) shares them: only its eval, on other questions, is its own. The choices are
read back from MLflow, so `make tables` finds the ones the sweep made. Pure: no I/O here.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ablations.sweep.spec import SweepSpec

TUNING = "tuning"  # the MLflow role of a tuning candidate's run
CHOICES = "lynx_tuned"  # the parent run's tag holding the choices (JSON)


def choices(scores: pd.DataFrame, spec: SweepSpec) -> dict[str, dict[str, Any]]:
    """Each tuned variant's best candidate's values, once every candidate is scored on every
    tuning seed or failed (a rate at which training diverges is a candidate that lost; a
    variant with one still to run, or none that trained, chooses nothing yet)."""
    if spec.tune is None or scores.empty:
        return {}
    chosen = {}
    for variant, rows in scores.groupby("variant", sort=False):
        scored = rows[~rows["failed"]] if "failed" in rows else rows
        if not rows["complete"].all() or scored["score"].isna().all():
            continue
        ranked = scored["score"]
        best = ranked.idxmax() if spec.tune.goal == "max" else ranked.idxmin()
        chosen[str(variant)] = spec.tune.candidates[int(rows.loc[best, "candidate"])]
    return chosen


def describe(chosen: dict[str, dict[str, Any]]) -> str:
    """The choices as the parent run's tag holds them."""
    return json.dumps(chosen, sort_keys=True)
