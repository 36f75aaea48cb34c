"""A metric's per-question units, read from a run's predictions: the value of each answer, keyed
so that two runs' answers to one question pair up, with its stratum (an MME subtask) and
cluster (the image asked about), for intervals over questions and images."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lynx_core.evaluate.metric_names import class_key
from lynx_core.evaluate.mme import PERCEPTION, MMEAnswer, image_marks


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
            key = (r.get("instruction"), r.get("setting"), r.get("media"), r["question"])
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
    if metric == "hallucination/chair_s":  # answers asked for detail naming something absent
        named = lambda r: 100.0 * bool(r.get("absent"))  # noqa: E731
        detailed = lambda r: r["instruction"] == "detailed" and "absent" in r  # noqa: E731
        return _answers("compliance", named, detailed), np.mean
    if split == "pope" and rest in ("false_yes", "accuracy"):
        if rest == "false_yes":  # absent objects said to be there
            said_yes = lambda r: 100.0 * (r["said"] == "yes")  # noqa: E731
            return _answers("pope", said_yes, lambda r: r["label"] == "no"), np.mean
        right = lambda r: 100.0 * (r["said"] == r["label"])  # noqa: E731
        return _answers("pope", right), np.mean
    return None


def unit_layout(units: Units, keys: list) -> tuple[np.ndarray, np.ndarray | None]:
    """The strata and clusters of `keys`, as `bootstrap_delta` takes them."""
    strata = np.array([units.strata.get(k, "") for k in keys])
    clusters = np.array([str(units.clusters[k]) for k in keys]) if units.clusters else None
    return strata, clusters
