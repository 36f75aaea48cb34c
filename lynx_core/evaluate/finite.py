"""No NaN is a result: an evaluation whose headline score is not a number has failed.

A headline (Open-VQA image or video Overall, MME perception, length-instruction compliance
and the length of detailed answers, CHAIR's share of answers naming absent things) is NaN or
infinite only when its benchmark scored nothing: every answer undecided by the judge, say.
Recording it would finish the variant with "Open-VQA overall nan%" and put a row of nothing
in the study's tables, so the stage fails with the reason and its rerun evaluates again. A
secondary metric that is not a number (a class whose every answer was undecided) is left out
instead: its counts beside it say why, and a table shows it as missing.
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)

# the metrics a variant is compared on; the study's tables read the same names
HEADLINE_METRICS = (
    "openvqa/overall",
    "openvqa_video/overall",
    "mme/perception",
    "compliance/overall",
    "compliance/detailed_words",
    "hallucination/chair_s",
)


class EvaluationFailed(RuntimeError):
    """The evaluation ran but one of its headline scores is not a number."""


def _why(name: str, metrics: dict[str, float]) -> str:
    split = name.split("/", 1)[0]
    undecided = metrics.get(f"{split}/undecided")
    if undecided is not None:
        return (
            f"the judge decided none of its answers ({undecided:.0f} undecided: invalid "
            "replies are the judge's final word, so check the judge's model and prompt)"
        )
    return "its benchmark scored no answer"


def nonfinite_headlines(metrics: dict[str, float]) -> list[str]:
    """The headlines `metrics` holds that are not finite numbers."""
    return [n for n in HEADLINE_METRICS if n in metrics and not math.isfinite(metrics[n])]


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """`metrics` without the secondary ones that are not finite numbers; raises
    `EvaluationFailed` naming each headline that is not."""
    bad = nonfinite_headlines(metrics)
    if bad:
        reasons = "; ".join(f"{n} is {metrics[n]}: {_why(n, metrics)}" for n in bad)
        raise EvaluationFailed(
            f"evaluation not recorded as finished: {reasons}. Nothing was recorded for it; "
            "the sweep's rerun evaluates it again"
        )
    dropped = sorted(n for n, v in metrics.items() if not math.isfinite(v))
    if dropped:
        log.info("not recorded (no number): %s", ", ".join(dropped))
    return {n: v for n, v in metrics.items() if math.isfinite(v)}
