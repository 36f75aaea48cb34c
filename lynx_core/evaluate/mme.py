"""MME scoring as the official eval tool computes it (BradyFU/Awesome-Multimodal-LLMs, MME).

Every image has two yes/no questions. Per subtask: acc = right answers / questions, acc+ =
images with both answers right / images, score = acc + acc+ in percent (at most 200).
Perception and cognition totals are sums of their subtasks' scores. A free-form answer is read
as the official tool does (exactly yes/no, else 'yes' or 'no' within its first 4 characters,
lowercased: "Yes, there is ..." → yes); anything else is unparsed, counted, and wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Literal

from lynx_core.config import StrictModel

PERCEPTION = (
    "existence",
    "count",
    "position",
    "color",
    "posters",
    "celebrity",
    "scene",
    "landmark",
    "artwork",
    "OCR",
)
COGNITION = (
    "commonsense_reasoning",
    "numerical_calculation",
    "text_translation",
    "code_reasoning",
)


class MMEAnswer(StrictModel):
    subtask: str
    image: str
    question: str
    answer: Literal["Yes", "No"]
    prediction: str


def parse_yes_no(prediction: str) -> Literal["yes", "no"] | None:
    text = prediction.strip().lower()
    if text in ("yes", "no"):
        return text  # type: ignore[return-value]
    head = text[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return None


def image_marks(answers: Iterable[MMEAnswer]) -> dict[str, dict[str, list[bool]]]:
    """Subtask → image → whether each of its answers is right (as `parse_yes_no` reads it)."""
    by_image: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for a in answers:
        by_image[a.subtask][a.image].append(parse_yes_no(a.prediction) == a.answer.lower())
    return by_image


def score(answers: Iterable[MMEAnswer]) -> dict[str, float]:
    """Per-subtask acc, acc+, score and unparsed count; perception/cognition/total sums."""
    answers = list(answers)
    by_image = image_marks(answers)
    unparsed = Counter(a.subtask for a in answers if parse_yes_no(a.prediction) is None)
    metrics: dict[str, float] = {}
    for subtask, images in sorted(by_image.items()):
        for image, marks in images.items():
            if len(marks) != 2:
                raise ValueError(
                    f"MME subtask {subtask!r}, image {image!r}: {len(marks)} questions; "
                    "MME has exactly two per image"
                )
        questions = [m for marks in images.values() for m in marks]
        acc = 100.0 * sum(questions) / len(questions)
        acc_plus = 100.0 * sum(all(m) for m in images.values()) / len(images)
        metrics[f"{subtask}/acc"] = acc
        metrics[f"{subtask}/acc_plus"] = acc_plus
        metrics[f"{subtask}/score"] = acc + acc_plus
        metrics[f"{subtask}/unparsed"] = float(unparsed[subtask])
    for group, names in (("perception", PERCEPTION), ("cognition", COGNITION)):
        present = [n for n in names if f"{n}/score" in metrics]
        if present:
            metrics[group] = sum(metrics[f"{n}/score"] for n in present)
    metrics["unparsed"] = float(sum(unparsed.values()))
    return metrics
