"""How far a judge agrees with people: percent agreement and Cohen's kappa.

The paper validates its GPT-4 judge at 95% agreement with human verdicts. Here both sides are
right/wrong verdicts keyed by question; questions the judge could not decide (invalid or
failed verdicts, `None`) are left out of both measures and counted, and so are questions
without a human verdict.
"""

from __future__ import annotations

from collections.abc import Mapping


def agreement(judge: Mapping[str, bool | None], human: Mapping[str, bool]) -> dict[str, float]:
    keys = [k for k in judge if k in human and judge[k] is not None]
    if not keys:
        raise ValueError("no question has both a judge verdict and a human verdict")
    pairs = [(bool(judge[k]), human[k]) for k in keys]
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    judge_yes = sum(a for a, _ in pairs) / n
    human_yes = sum(b for _, b in pairs) / n
    expected = judge_yes * human_yes + (1 - judge_yes) * (1 - human_yes)
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    return {
        "agreement": 100.0 * observed,
        "kappa": kappa,
        "compared": float(n),
        "undecided_by_judge": float(sum(judge[k] is None for k in judge if k in human)),
        "without_human_verdict": float(sum(k not in human for k in judge)),
    }
