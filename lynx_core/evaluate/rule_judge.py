"""Offline rule judge: an answer is right when, normalised, it equals or contains a reference.

Normalisation lowercases, drops punctuation and articles and collapses spaces; containment is
on whole words. This is the judge used when no GPT judge is configured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

JUDGE_NAME = "rule-v1"
_ARTICLES = {"a", "an", "the"}


def normalise(text: str) -> str:
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def judge(prediction: str, references: Sequence[str]) -> bool:
    answer = f" {normalise(prediction)} "
    return any(normalise(ref) and f" {normalise(ref)} " in answer for ref in references)
