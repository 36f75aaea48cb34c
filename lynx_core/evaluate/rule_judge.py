"""Offline rule judge: an answer is right when, normalised as the VQA evaluation normalises,
it contains an accepted answer and names no other candidate answer of its question's kind.

Normalisation (as VQAv2's evaluation script): lowercase, punctuation to spaces, number words
to digits ("two" → "2"), articles dropped. Containment is on whole words, so "there are two
circles" answers "how many?" ("two"). A hedged answer is wrong: "yes no", or "red blue" for a
colour question, contains the right answer but also a rival one of the same kind (the kinds a
benchmark's own answers form: its class and VQA's answer type, closed sets such as colours,
counts or yes/no; an open kind, with more than `CLOSED_KIND_MAX` distinct answers, is judged
by containment alone). Used when no GPT judge is configured.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

JUDGE_NAME = "rule-v2"
ARTICLES = frozenset({"a", "an", "the"})
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
CLOSED_KIND_MAX = 20  # distinct answers of a kind up to which it is a closed set of rivals


def normalise(text: str) -> str:
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return " ".join(NUMBER_WORDS.get(w, w) for w in words if w not in ARTICLES)


def answer_type(answer: str) -> str:
    """VQA's answer types: 'yes/no', 'number', or 'other'."""
    text = normalise(answer)
    if text in ("yes", "no"):
        return "yes/no"
    return "number" if text.isdigit() else "other"


def _names(answer: str, phrase: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {answer} "


@dataclass(frozen=True)
class RuleJudge:
    """The rule judge of one benchmark: its kinds' closed sets of candidate answers."""

    candidates: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, questions: Iterable[tuple[str, Sequence[str]]]) -> RuleJudge:
        """From (class, accepted answers) of every question of a benchmark."""
        found: dict[tuple[str, str], set[str]] = defaultdict(set)
        for category, accepted in questions:
            for answer in accepted:
                found[category, answer_type(answer)].add(normalise(answer))
        closed = {k: frozenset(v - {""}) for k, v in found.items() if len(v) <= CLOSED_KIND_MAX}
        return cls(closed)

    def __call__(self, prediction: str, references: Sequence[str], category: str = "") -> bool:
        answer = normalise(prediction)
        accepted = {normalise(r) for r in references} - {""}
        if not any(_names(answer, r) for r in accepted):
            return False
        rivals = set()
        for reference in references:
            rivals |= self.candidates.get((category, answer_type(reference)), frozenset())
        return not any(_names(answer, rival) for rival in rivals - accepted)


def judge(prediction: str, references: Sequence[str]) -> bool:
    """Containment alone, with no benchmark to know rivals from (hedges go unseen)."""
    return RuleJudge()(prediction, references)
