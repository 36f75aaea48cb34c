"""A sweep's results as tables, plots and findings read them: from MLflow alone.

`variant_frame` is the latest finished-or-not run of every variant × seed the sweep defines
now, with its current config (a run recorded under an older config of the same name is
another experiment, and is left out). `Study` turns the finished ones into numbers with
intervals: a variant's mean over seeds (Student t), its difference from another variant
paired by seed and, with a single seed, paired bootstrap intervals over the questions both
runs answered, read from the runs' `predictions.jsonl` artifacts. Never the stage store, never
retraining: a store copied from a cluster (`mlflow.db` with its artifacts) is enough.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablations.backends import tracking_uri
from ablations.spec import SweepSpec, Variant
from ablations.stats import (
    CONFIDENCE,
    NOTHING,
    Estimate,
    bootstrap_delta,
    mean_interval,
    paired_delta,
)
from ablations.track import KEY, ROLE, SWEEP, VARIANT
from lynx_core.config import VariantConfig, flatten
from lynx_core.evaluate.metric_names import class_key
from lynx_core.evaluate.mme import PERCEPTION, MMEAnswer, image_marks

PREDICTIONS = "predictions.jsonl"
JUDGE = "lynx_judge"  # the tag naming who judged a run's answers (rule-v1, gpt:<model>)


def variant_frame(spec: SweepSpec, results: Path, uri: str | None = None) -> pd.DataFrame:
    """Latest run per variant × seed of `spec` recorded with its current config, one row
    each: run_id, status, and `params.*`, `metrics.*`, `tags.*` columns as MLflow names them."""
    client = MlflowClient(uri or tracking_uri(results))
    experiment = client.get_experiment_by_name(spec.experiment)
    if experiment is None:
        return pd.DataFrame()
    rows, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.{ROLE} = 'variant' and tags.{SWEEP} = '{spec.experiment}'",
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


# ---- per-question units, for intervals over questions when there is one seed -------------


@dataclass(frozen=True)
class Units:
    """A metric's per-question values, keyed so that two runs' answers to one question pair
    up; the stratum (MME subtask) and cluster (the image asked about) of each."""

    values: dict[Any, float]
    strata: dict[Any, str] = field(default_factory=dict)
    clusters: dict[Any, Any] = field(default_factory=dict)


UnitFn = Callable[[list[dict]], Units]


def _answers(split: str, value: Callable[[dict], float], keep=lambda r: True) -> UnitFn:
    def units(records: list[dict]) -> Units:
        mine = [r for r in records if r.get("split") == split and keep(r)]
        seen: Counter = Counter()
        keys = []
        for r in mine:  # a question asked twice about one image is two units, in file order
            key = (r.get("instruction"), r.get("media"), r["question"])
            keys.append((*key, seen[key]))
            seen[key] += 1
        clusters = {k: r.get("media", i) for i, (k, r) in enumerate(zip(keys, mine, strict=True))}
        return Units(dict(zip(keys, map(value, mine), strict=True)), clusters=clusters)

    return units


def _mme_perception(records: list[dict]) -> Units:
    """Each image's share of the perception score: a subtask's score is acc + acc+ (in %),
    so an image adds (its share of right answers + both right) / images × 100; resampled
    within its subtask, which keeps every subtask's size."""
    answers = [
        MMEAnswer(**{k: r[k] for k in MMEAnswer.model_fields})
        for r in records
        if r.get("split") == "mme" and r["subtask"] in PERCEPTION
    ]
    values = {
        (subtask, image): 100.0 * (sum(marks) / len(marks) + all(marks)) / len(images)
        for subtask, images in image_marks(answers).items()
        for image, marks in images.items()
    }
    return Units(values, strata={key: key[0] for key in values})


def _correct(record: dict) -> float:
    return 100.0 * (record.get("correct") is True)


def _decided(record: dict) -> bool:
    return record.get("correct") is not None


def units_of(metric: str) -> tuple[UnitFn, Callable[[np.ndarray], float]] | None:
    """How `metric` is computed from per-answer records (units and the statistic over them),
    for the metrics the study reports; None for the others."""
    split, _, rest = metric.partition("/")
    if split in ("openvqa", "openvqa_video"):  # questions the judge left undecided: unscored
        if rest == "overall":
            return _answers(split, _correct, _decided), np.mean
        if rest.endswith("/acc"):
            cls = rest.removesuffix("/acc")
            of_class = lambda r: _decided(r) and class_key(r["class"]) == cls  # noqa: E731
            return _answers(split, _correct, of_class), np.mean
    if split in ("compliance", "llm_compliance"):
        complied = lambda r: 100.0 * bool(r["complies"])  # noqa: E731
        if rest == "overall":  # equal numbers of each instruction: the mean of the two rates
            return _answers(split, complied), np.mean
        if rest in ("one_word", "detailed"):
            return _answers(split, complied, lambda r: r["instruction"] == rest), np.mean
        if rest == "detailed_words":
            detailed = lambda r: r["instruction"] == "detailed"  # noqa: E731
            return _answers(split, lambda r: float(r["words"]), detailed), np.mean
    if metric == "mme/perception":
        return _mme_perception, np.sum
    return None


def _layout(units: Units, keys: list) -> tuple[np.ndarray, np.ndarray | None]:
    """The strata and clusters of `keys`, as `bootstrap_delta` takes them."""
    strata = np.array([units.strata.get(k, "") for k in keys])
    clusters = np.array([str(units.clusters[k]) for k in keys]) if units.clusters else None
    return strata, clusters


# ---- the study ---------------------------------------------------------------------------


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
        variants = spec.expand()
        frame = variant_frame(spec, results, uri)
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

    def variant(self, group: str) -> Variant:
        return next(v for v in self.variants if v.group == group)

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
        if len(values) != 1:
            return mean_interval(list(values.values()))
        (seed,) = values
        found = self._units(group, seed, metric)
        if found is None:
            return mean_interval(list(values.values()))
        units, statistic = found
        keys = sorted(units.values, key=str)
        picked = np.array([units.values[k] for k in keys])
        return bootstrap_delta(picked, np.zeros(len(keys)), statistic, *_layout(units, keys))

    def delta(
        self,
        group: str,
        metric: str,
        against: str | None = None,
        against_metric: str | None = None,
        confidence: float = CONFIDENCE,
    ) -> Estimate:
        """`group`'s metric minus `against`'s (default: the baseline's, same metric), paired
        by seed; with one common seed, a paired bootstrap over the questions both answered."""
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
        if len(common) != 1:
            return paired_delta(mine, theirs, confidence)
        found = self.seed_delta(group, common[0], metric, against, against_metric, confidence)
        return paired_delta(mine, theirs, confidence) if found is None else found

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
            *_layout(ua, keys),
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

    def differences(self, group: str) -> dict[str, tuple[Any, Any]]:
        """Field → (baseline's value, this variant's value) where their configs differ (the
        seed aside): what the variant changes, whichever way the sweep wrote it."""
        if self.baseline is None:
            return {}
        mine = flatten(self.config(group).model_dump(mode="json"))
        theirs = flatten(self.config(self.baseline).model_dump(mode="json"))
        fields = dict.fromkeys([*theirs, *mine])  # a mixture may list tasks the other lacks
        return {
            k: (theirs.get(k), mine.get(k))
            for k in fields
            if k != "train.seed" and theirs.get(k) != mine.get(k)
        }
