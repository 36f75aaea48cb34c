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


def at_edge(chosen: dict[str, dict[str, Any]], spec: SweepSpec) -> list[str]:
    """Each choice that is the smallest or largest of its field's numeric candidates, said
    with what to do: the best value may lie beyond the grid, and a comparison of variants
    each held at an edge is not yet a fair one (a sweep that tuned lr over 0.001-0.01 chose
    0.001 for all three architectures; 0.0003 then scored higher for each)."""
    if spec.tune is None:
        return []
    found = []
    for variant, values in chosen.items():
        for field, value in values.items():
            grid = [v for v in spec.tune.values[field] if _number(v)]
            if len(set(grid)) < 3 or not _number(value):
                continue  # two candidates have no inside; a label is not an edge
            side = "smallest" if value == min(grid) else "largest" if value == max(grid) else ""
            if side:
                beyond = "below" if side == "smallest" else "above"
                found.append(
                    f"{variant} chose {field}={value}, the {side} candidate, so its best may "
                    f"lie {beyond} the grid (add a candidate {beyond} it)"
                )
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def edge_note(spec: SweepSpec) -> str:
    """What `tuning.md` says of the choices of `spec` (a sweep with its choices applied)."""
    if not spec.choices:
        return "No variant has chosen yet."
    edges = at_edge(spec.choices, spec)
    if not edges:
        return "No choice is the smallest or largest of three or more numeric candidates."
    return f"**At the grid's edge**: {'; '.join(edges)}."
