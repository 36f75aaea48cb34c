"""Hallucination, measured two ways: answers that name what is not in the image (CHAIR), and
yes/no probes about absent objects (POPE).

- CHAIR (Rohrbach et al., 2018) on free-form answers: of the vocabulary of things a
  benchmark's images can show (their annotated mentions: objects and attributes), the words
  an answer names that its own image does not show. `chair_s`: the share of answers naming at
  least one; `chair_i`: the share of named things that are absent.
- POPE (Li et al., 2023): "is there a <object> in the image?", half about absent objects;
  answers read as POPE's own script reads them. `false_yes`: the share of absent objects
  claimed present (the hallucination rate), beside accuracy, F1 and the share of yes.
Pure functions of answers and annotations; which questions are asked is `suite`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lynx_core.data.files.formats import PopeQuestion


def _named(answer: str, vocabulary: frozenset[str]) -> list[str]:
    return [w for w in re.findall(r"\w+", answer.lower()) if w in vocabulary]


def absent_mentions(answer: str, shown: frozenset[str], vocabulary: frozenset[str]) -> list[str]:
    """The vocabulary words `answer` names that its image does not show."""
    return [w for w in _named(answer, vocabulary) if w not in shown]


def chair(
    answers: Sequence[str], shown: Sequence[frozenset[str]], vocabulary: frozenset[str]
) -> dict[str, float]:
    """`chair_s` and `chair_i` (%), and `chair_n`: the answers scored (a rate with nothing
    to count is left out, never NaN)."""
    named = [_named(a, vocabulary) for a in answers]
    absent = [[w for w in n if w not in s] for n, s in zip(named, shown, strict=True)]
    mentions = sum(map(len, named))
    found = {"chair_n": float(len(answers))}
    if answers:
        found["chair_s"] = 100.0 * sum(bool(a) for a in absent) / len(answers)
    if mentions:
        found["chair_i"] = 100.0 * sum(map(len, absent)) / mentions
    return found


def pope_answer(prediction: str) -> str:
    """'yes' or 'no' as POPE's evaluation reads an answer: its first sentence, commas
    dropped, is 'no' when a word of it is no, No or not, else 'yes'."""
    text = prediction.split(".")[0].replace(",", "")
    words = text.split(" ")
    return "no" if {"No", "no", "not"} & set(words) else "yes"


def score_pope(
    questions: Sequence[PopeQuestion], predictions: Sequence[str]
) -> tuple[dict[str, float], list[dict]]:
    """POPE's metrics (%), over all probes and per setting, with one record per answer."""
    records = [
        {
            "id": q.id,
            "media": str(q.image),
            "question": q.question,
            "setting": q.setting,
            "label": q.label,
            "prediction": p,
            "said": pope_answer(p),
        }
        for q, p in zip(questions, predictions, strict=True)
    ]
    metrics = _pope_metrics(records)
    for setting in sorted({r["setting"] for r in records}):
        mine = [r for r in records if r["setting"] == setting]
        metrics |= {f"{setting}/{k}": v for k, v in _pope_metrics(mine).items()}
    return metrics, records


def _pope_metrics(records: list[dict]) -> dict[str, float]:
    """Accuracy, F1 (of 'yes' for present objects), share of yes and of absent objects said
    present; a rate with nothing to count is left out, never NaN."""
    yes = [r for r in records if r["said"] == "yes"]
    present = [r for r in records if r["label"] == "yes"]
    absent = [r for r in records if r["label"] == "no"]
    hits = sum(r["label"] == "yes" for r in yes)
    found = {
        "accuracy": 100.0 * sum(r["said"] == r["label"] for r in records) / len(records),
        "yes_ratio": 100.0 * len(yes) / len(records),
    }
    if present:  # F1 of finding the present objects: 0 when none is found
        found["f1"] = 100.0 * 2 * hits / (len(yes) + len(present))
    if absent:
        found["false_yes"] = 100.0 * sum(r["said"] == "yes" for r in absent) / len(absent)
    return found
