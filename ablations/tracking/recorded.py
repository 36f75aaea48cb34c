"""What MLflow holds of a sweep: its runs, their predictions, its tuning choices.

`variant_frame` is the latest finished-or-not run of every variant × seed the sweep defines
now, with its current config (a run recorded under an older config of the same name is
another experiment, and is left out); for a sweep that tunes (`tune:`), the current config of
a tuned variant is the one with the values its tuning runs chose (`chosen_spec`, from the
runs recorded with the role 'tuning'). Read only, never written here.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablations.sweep.spec import SweepSpec
from ablations.sweep.tuning import TUNING, choices
from ablations.tracking.track import GROUP, KEY, ROLE, SWEEP, VARIANT
from ablations.tracking.uri import has_store, tracking_uri

PREDICTIONS = "predictions.jsonl"


def variant_frame(
    spec: SweepSpec, results: Path, uri: str | None = None, role: str = "variant"
) -> pd.DataFrame:
    """Latest run per variant × seed of `spec` recorded with its current config, one row
    each: run_id, status, and `params.*`, `metrics.*`, `tags.*` columns as MLflow names them
    (`role`: the study's variants, or 'tuning' for the tuning candidates of `spec.tuning()`)."""
    if role == "variant":
        spec = chosen_spec(spec, results, uri)
    client = MlflowClient(uri or tracking_uri(results))
    experiment = client.get_experiment_by_name(spec.experiment)
    if experiment is None:
        return pd.DataFrame()
    rows, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.{ROLE} = '{role}' and tags.{SWEEP} = '{spec.experiment}'",
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        rows += [_row(run) for run in page]
        token = page.token
        if not token:
            break
    if not rows:
        return pd.DataFrame()
    runs = pd.DataFrame(rows)
    keys = {v.name: v.key for v in spec.expand()}
    current = runs[f"tags.{KEY}"] == runs[f"tags.{VARIANT}"].map(keys)
    runs = runs[current].drop_duplicates(f"tags.{VARIANT}")
    order = {name: i for i, name in enumerate(keys)}
    return runs.sort_values(f"tags.{VARIANT}", key=lambda s: s.map(order)).reset_index(drop=True)


def _row(run: Run) -> dict:
    return {
        "run_id": run.info.run_id,
        "status": run.info.status,
        **{f"params.{k}": v for k, v in run.data.params.items()},
        **{f"metrics.{k}": v for k, v in run.data.metrics.items()},
        **{f"tags.{k}": v for k, v in run.data.tags.items()},
    }


def read_predictions(client: MlflowClient, run_id: str) -> list[dict]:
    """A run's `predictions.jsonl` artifact, one record per answer (empty if it has none)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, PREDICTIONS, tmp)
        except (MlflowException, OSError):  # no such artifact, or a store copied without it
            return []
        lines = Path(path).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def tuning_scores(
    spec: SweepSpec, results: Path, uri: str | None = None, frame: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per tuning candidate: the tuned variant, its candidate number and values, the
    validation metric's mean over the tuning seeds that finished, and how many did (`frame`:
    the candidates' runs, where the caller has read them already)."""
    if spec.tune is None:
        return pd.DataFrame()
    if frame is None:
        frame = variant_frame(spec.tuning(), results, uri, role=TUNING)
    finished = frame[frame["status"] == "FINISHED"] if not frame.empty else frame
    failed = frame[frame["status"] == "FAILED"] if not frame.empty else frame
    column = f"metrics.{spec.tune.metric}"
    expected = len(spec.tuning_seeds)
    rows = []
    for variant in spec.tune.variants:
        for number, values in enumerate(spec.tune.candidates):
            group = f"{variant}.tune{number}"
            mine = finished[finished[f"tags.{GROUP}"] == group] if not finished.empty else finished
            found = mine[column].dropna() if column in mine else pd.Series(dtype=float)
            broke = not failed.empty and (failed[f"tags.{GROUP}"] == group).any()
            rows.append(
                {
                    "variant": variant,
                    "candidate": number,
                    **values,
                    "score": float(found.mean()) if len(found) else math.nan,
                    "seeds": len(found),
                    "failed": bool(broke),  # e.g. a rate at which training diverged
                    "complete": len(found) == expected or bool(broke),
                }
            )
    return pd.DataFrame(rows)


def chosen_spec(spec: SweepSpec, results: Path, uri: str | None = None) -> SweepSpec:
    """The sweep with its tuned variants' choices as MLflow's tuning runs make them (a
    variant not yet scored on every candidate keeps the values its sweep file gives)."""
    if spec.tune is None or spec.choices:
        return spec
    return spec.with_choices(choices(tuning_scores(spec, results, uri), spec))


def recorded_variants(spec: SweepSpec, results: Path) -> set[str]:
    """Variants (and tuning candidates) whose run in MLflow finished with their current
    config; never creates a store."""
    if not has_store(results):
        return set()
    frames = [variant_frame(spec, results)]  # runs of the current configs only
    if spec.tune is not None:
        frames.append(variant_frame(spec.tuning(), results, role="tuning"))
    return {
        name
        for runs in frames
        if not runs.empty
        for name in runs.loc[runs["status"] == "FINISHED", f"tags.{VARIANT}"]
    }
