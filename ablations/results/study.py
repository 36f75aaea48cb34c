"""A sweep's results as tables, plots and findings read them: from MLflow alone.

`variant_frame` is the latest finished-or-not run of every variant × seed the sweep defines
now, with its current config (a run recorded under an older config of the same name is
another experiment, and is left out). `Study` turns the finished ones into numbers with
intervals (`ablations.results.stats`): a variant's mean over seeds and its difference from another
variant paired by seed, each with an interval that holds both the seeds' and the evaluation
items' variance, read from the runs' `predictions.jsonl` artifacts (metrics without
per-question records, such as losses, over seeds alone); with a single seed, paired bootstrap
intervals over the questions both runs answered. Never the stage store, never retraining: a
store copied from a cluster (`mlflow.db` with its artifacts) is enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from ablations.results.stats import (
    CONFIDENCE,
    NOTHING,
    Estimate,
    Table,
    bootstrap_delta,
    mean_interval,
    paired_delta,
    paired_effect,
)
from ablations.results.units import unit_layout, units_of
from ablations.sweep.spec import SweepSpec
from ablations.sweep.variant import Variant
from ablations.tracking.recorded import chosen_spec, read_predictions, variant_frame
from ablations.tracking.track import VARIANT
from ablations.tracking.uri import tracking_uri
from lynx_core.config import VariantConfig, flatten
from lynx_core.stages import stage_of

JUDGE = "lynx_judge"  # the tag naming who judged a run's answers (rule-v2, gpt:<model>)


@dataclass
class Study:
    """The finished runs of a sweep, by variant (group) and seed, and what can be said of them."""

    spec: SweepSpec
    runs: pd.DataFrame  # finished runs: columns group, seed, run_id, metrics.*, tags.lynx_judge
    client: MlflowClient
    variants: list[Variant]
    missing: list[str] = field(default_factory=list)  # variant × seed without a finished run
    _predictions: dict[str, list[dict]] = field(default_factory=dict, repr=False)
    _memo: dict[tuple, Estimate | None] = field(default_factory=dict, repr=False)

    def _cached(self, key: tuple, compute: Callable[[], Estimate | None]) -> Estimate | None:
        """Each estimate once: tables, plots and findings ask for the same ones."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @classmethod
    def load(cls, spec: SweepSpec, results: Path, uri: str | None = None) -> Study:
        uri = uri or tracking_uri(results)
        spec = chosen_spec(spec, results, uri)  # tuned variants with the values they chose
        return cls._of(spec, variant_frame(spec, results, uri), uri)

    @classmethod
    def tuning(cls, spec: SweepSpec, frame: pd.DataFrame, uri: str) -> Study:
        """The study of `spec`'s tuning candidates (`<variant>.tune<i>`, on the tuning seeds,
        answered on the validation split) from their runs (`frame`): how far apart the
        candidates a choice was made between are, with the same intervals as the study's
        comparisons."""
        return cls._of(spec.tuning(), frame, uri)

    @classmethod
    def _of(cls, spec: SweepSpec, frame: pd.DataFrame, uri: str) -> Study:
        variants = spec.expand()
        finished = frame[frame["status"] == "FINISHED"] if not frame.empty else frame
        by_name = {v.name: v for v in variants}
        runs = pd.DataFrame(
            {
                "group": [by_name[n].group for n in finished.get(f"tags.{VARIANT}", [])],
                "seed": [by_name[n].seed for n in finished.get(f"tags.{VARIANT}", [])],
                "run_id": list(finished.get("run_id", [])),
            }
        )
        kept = [c for c in finished.columns if c.startswith("metrics.") or c == f"tags.{JUDGE}"]
        runs = pd.concat([runs, finished[kept].reset_index(drop=True)], axis=1)
        done = set(finished.get(f"tags.{VARIANT}", []))
        missing = [v.name for v in variants if v.name not in done]
        return cls(spec, runs, MlflowClient(uri), variants, missing)

    @property
    def groups(self) -> list[str]:
        """Variants with at least one finished run, in the sweep's order."""
        present = set(self.runs["group"]) if not self.runs.empty else set()
        return list(dict.fromkeys(v.group for v in self.variants if v.group in present))

    @property
    def baseline(self) -> str | None:
        return self.spec.baseline if self.spec.baseline in self.groups else None

    @property
    def judges(self) -> list[str]:
        """Who judged the answers (a table mixing judges says so)."""
        column = f"tags.{JUDGE}"
        return sorted(set(self.runs[column].dropna())) if column in self.runs else []

    @property
    def seeds(self) -> list[int]:
        return sorted(set(self.runs["seed"])) if not self.runs.empty else []

    @property
    def seed_counts(self) -> list[int]:
        """How many seeds the variants have, fewest to most: one number when all have as
        many (a variant may have its own, more where its comparison is noisy)."""
        if self.runs.empty:
            return []
        return sorted({int(n) for n in self.runs.groupby("group")["seed"].nunique()})

    def variant(self, group: str) -> Variant:
        if "variants" not in self._memo:  # group → its first variant, looked up often
            self._memo["variants"] = {}
            for v in self.variants:
                self._memo["variants"].setdefault(v.group, v)
        return self._memo["variants"][group]

    def has(self, metric: str) -> bool:
        column = f"metrics.{metric}"
        return column in self.runs and self.runs[column].notna().any()

    def values(self, group: str, metric: str) -> dict[int, float]:
        """Seed → the metric of that seed's run (seeds without the metric left out)."""
        column = f"metrics.{metric}"
        if column not in self.runs:
            return {}
        mine = self.runs[(self.runs["group"] == group) & self.runs[column].notna()]
        return dict(zip(mine["seed"].astype(int), mine[column].astype(float), strict=True))

    def estimate(self, group: str, metric: str) -> Estimate:
        """Mean over seeds with its t interval; with one seed, a bootstrap over questions."""
        return self._cached(("estimate", group, metric), lambda: self._estimate(group, metric))

    def _estimate(self, group: str, metric: str) -> Estimate:
        values = self.values(group, metric)
        if len(values) >= 2:
            table = self._table(group, metric, sorted(values))
            return mean_interval(list(values.values())) if table is None else paired_effect(table)
        if len(values) != 1:
            return mean_interval(list(values.values()))
        (seed,) = values
        found = self._units(group, seed, metric)
        if found is None:
            return mean_interval(list(values.values()))
        units, statistic = found
        keys = sorted(units.values, key=str)
        picked = np.array([units.values[k] for k in keys])
        return bootstrap_delta(picked, np.zeros(len(keys)), statistic, *unit_layout(units, keys))

    def delta(
        self,
        group: str,
        metric: str,
        against: str | None = None,
        against_metric: str | None = None,
        confidence: float = CONFIDENCE,
    ) -> Estimate:
        """`group`'s metric minus `against`'s (default: the baseline's, same metric), paired
        by seed, with an interval holding the seeds' and the evaluation items' variance;
        with one common seed, a paired bootstrap over the questions both answered."""
        against = against or self.baseline
        if against is None:
            return NOTHING
        case = (group, metric, against, against_metric or metric, confidence)
        return self._cached(("delta", *case), lambda: self._delta(*case))

    def _delta(
        self, group: str, metric: str, against: str, against_metric: str, confidence: float
    ) -> Estimate:
        mine, theirs = self.values(group, metric), self.values(against, against_metric)
        common = sorted(set(mine) & set(theirs))
        if len(common) >= 2:
            table = self._table(group, metric, common, against, against_metric)
            if table is None:  # no per-question records: over seeds alone
                return paired_delta(mine, theirs, confidence)
            return paired_effect(table, confidence)
        if len(common) != 1:
            return paired_delta(mine, theirs, confidence)
        found = self.seed_delta(group, common[0], metric, against, against_metric, confidence)
        return paired_delta(mine, theirs, confidence) if found is None else found

    def _table(
        self,
        group: str,
        metric: str,
        seeds: list[int],
        against: str | None = None,
        against_metric: str | None = None,
    ) -> Table | None:
        """The seeds × clusters table of `group`'s per-question values (minus `against`'s,
        question by question) over the questions every one of those runs answered; None
        without per-question records for all of them."""
        per_seed = []
        for seed in seeds:
            mine = self._units(group, seed, metric)
            theirs = None if against is None else self._units(against, seed, against_metric)
            if mine is None or (against is not None and theirs is None):
                return None
            per_seed.append((mine, theirs))
        (first, statistic), _ = per_seed[0]
        keys = set(first.values)
        for (units, _), other in per_seed:
            keys &= set(units.values) & (set(other[0].values) if other else keys)
        keys = sorted(keys, key=str)
        if not keys:
            return None
        strata, clusters = unit_layout(first, keys)
        clusters = np.arange(len(keys)) if clusters is None else clusters
        names, cluster = np.unique(clusters, return_inverse=True)
        rows = []
        for (units, _), other in per_seed:
            diff = np.array([units.values[k] - (other[0].values[k] if other else 0) for k in keys])
            rows.append(np.bincount(cluster, weights=diff, minlength=len(names)))
        sizes = np.bincount(cluster, minlength=len(names)).astype(float)
        first_of = np.unique(cluster, return_index=True)[1]
        mean = statistic is np.mean
        contributions = np.array(rows) / (len(keys) if mean else 1)
        return Table(contributions, sizes, strata[first_of], mean)

    def seed_delta(
        self,
        group: str,
        seed: int,
        metric: str,
        against: str,
        against_metric: str | None = None,
        confidence: float = CONFIDENCE,
    ) -> Estimate | None:
        """One seed's difference with a paired bootstrap over the questions both runs
        answered: how precisely the evaluation set pins it down (None: no per-answer data)."""
        case = (group, seed, metric, against, against_metric or metric, confidence)
        return self._cached(("seed_delta", *case), lambda: self._seed_delta(*case))

    def _seed_delta(
        self,
        group: str,
        seed: int,
        metric: str,
        against: str,
        against_metric: str,
        confidence: float,
    ) -> Estimate | None:
        a = self._units(group, seed, metric)
        b = self._units(against, seed, against_metric)
        if a is None or b is None:
            return None
        (ua, statistic), (ub, _) = a, b
        keys = sorted(set(ua.values) & set(ub.values), key=str)
        return bootstrap_delta(
            np.array([ua.values[k] for k in keys]),
            np.array([ub.values[k] for k in keys]),
            statistic,
            *unit_layout(ua, keys),
            confidence=confidence,
        )

    def _units(self, group: str, seed: int, metric: str):
        found = units_of(metric)
        if found is None:
            return None
        unit_fn, statistic = found
        units = unit_fn(self._records(self._run_id(group, seed)))
        return (units, statistic) if units.values else None

    def _run_id(self, group: str, seed: int) -> str:
        mine = self.runs[(self.runs["group"] == group) & (self.runs["seed"] == seed)]
        return str(mine["run_id"].iloc[0])

    def _records(self, run_id: str) -> list[dict]:
        if run_id not in self._predictions:
            self._predictions[run_id] = read_predictions(self.client, run_id)
        return self._predictions[run_id]

    def curve(self, group: str, name: str) -> dict[int, list[tuple[int, float]]]:
        """Seed → the (step, loss) points of the run's `<name>/loss` curve."""
        mine = self.runs[self.runs["group"] == group]
        out = {}
        for seed, run_id in zip(mine["seed"], mine["run_id"], strict=True):
            history = self.client.get_metric_history(run_id, f"{name}/loss")
            if history:
                out[int(seed)] = sorted((m.step, m.value) for m in history)
        return out

    def config(self, group: str) -> VariantConfig:
        return self.variant(group).config

    def differences(self, group: str, results_only: bool = False) -> dict[str, tuple[Any, Any]]:
        """Field → (baseline's value, this variant's value) where their configs differ (the
        seeds aside): what the variant changes, whichever way the sweep wrote it;
        `results_only`: only fields that change a result (`lynx_core.stages`: not where or
        how fast it runs, how often it logs or checkpoints), the values tuning chose aside
        (each variant's own choice is fair tuning, not a change it makes)."""
        if self.baseline is None:
            return {}
        seeds = [  # the fields the sweep's seeds set
            "train.seed",
            *(["train.bases_seed"] if self.spec.bases_per_seed else []),
            *(["train.stage2_seed"] if not self.spec.stage1_per_seed else []),
        ]
        tuned = self.spec.tuned_fields if results_only else ()
        mine = flatten(self.config(group).model_dump(mode="json"))
        theirs = flatten(self.config(self.baseline).model_dump(mode="json"))
        fields = dict.fromkeys([*theirs, *mine])  # a mixture may list tasks the other lacks
        return {
            k: (theirs.get(k), mine.get(k))
            for k in fields
            if k not in seeds
            and k not in tuned
            and theirs.get(k) != mine.get(k)
            and not (results_only and stage_of(k) is None)
        }
