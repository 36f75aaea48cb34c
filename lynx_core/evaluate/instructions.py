"""Instruction following, measured on the answers themselves.

The paper's first conclusion: multimodal LLMs follow instructions worse than LLMs (some always
answer short, others always long). `length_stats` shows which way a model leans; `compliance`
checks answers against explicit length instructions ("answer in one word" vs "explain in
detail"), which the held-out prompt templates carry.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

LengthInstruction = Literal["one_word", "detailed"]
DETAILED_MIN_WORDS = 10


def words(answer: str) -> int:
    return len(answer.split())


def length_stats(answers: Sequence[str]) -> dict[str, float]:
    counts = [words(a) for a in answers]
    if not counts:
        return {}
    return {
        "length/mean_words": statistics.fmean(counts),
        "length/median_words": float(statistics.median(counts)),
        "length/empty_share": 100.0 * sum(c == 0 for c in counts) / len(counts),
        "length/one_word_share": 100.0 * sum(c == 1 for c in counts) / len(counts),
        "length/long_share": 100.0 * sum(c >= DETAILED_MIN_WORDS for c in counts) / len(counts),
    }


def complies(
    answer: str, instruction: LengthInstruction, detailed_min_words: int = DETAILED_MIN_WORDS
) -> bool:
    n = words(answer)
    return n == 1 if instruction == "one_word" else n >= detailed_min_words


def compliance(
    answers: Sequence[str],
    instructions: Sequence[LengthInstruction | None],
    detailed_min_words: int = DETAILED_MIN_WORDS,
) -> dict[str, float]:
    """Percent of answers obeying their length instruction, per kind (None: no instruction).

    What counts as detailed depends on the world: 10+ words for real answers, fewer for the
    toy world's one-sentence answers (`eval.detailed_min_words`)."""
    metrics: dict[str, float] = {}
    rates = []
    for kind in ("one_word", "detailed"):
        marks = [
            complies(a, i, detailed_min_words)
            for a, i in zip(answers, instructions, strict=True)
            if i == kind
        ]
        if marks:
            metrics[f"compliance/{kind}"] = 100.0 * sum(marks) / len(marks)
            metrics[f"compliance/{kind}_n"] = float(len(marks))
            rates.append(metrics[f"compliance/{kind}"])
    if rates:  # both directions weigh the same: a model that only answers short scores 50
        metrics["compliance/overall"] = statistics.fmean(rates)
    return metrics
