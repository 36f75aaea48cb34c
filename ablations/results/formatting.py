"""How the tables write numbers: a metric's digits, an estimate with its interval, a difference
with the † of a comparison the noise cannot tell from zero, a variant's settings, and the
sentence that says which variance the intervals hold."""

from __future__ import annotations

import math
from typing import Any

from ablations.results.stats import Estimate
from ablations.results.study import Study
from ablations.sweep.variant import Variant

NOISE_MARK = "†"


def digits(metric: str) -> int:
    """Decimals a metric is shown with: losses move in the second and third."""
    return 3 if "loss" in metric else 1


def fmt(estimate: Estimate, digits: int = 1) -> str:
    """'71.2 ± 1.3'; the value alone when there is no interval; '–' when there is no value."""
    if math.isnan(estimate.value):
        return "–"
    if not estimate.known:
        return f"{estimate.value:.{digits}f}"
    return f"{estimate.value:.{digits}f} ± {estimate.half_width:.{digits}f}"


def fmt_delta(estimate: Estimate, digits: int = 1, noise: bool | None = None) -> str:
    """'+1.2 ± 0.8', with † where it is within noise: `noise` as a table's correction decided
    it, else where the interval contains 0 (or there is none)."""
    if math.isnan(estimate.value):
        return "–"
    text = f"{estimate.value:+.{digits}f}"
    if estimate.known:
        text += f" ± {estimate.half_width:.{digits}f}"
    marked = estimate.within_noise if noise is None else noise
    return f"{text} {NOISE_MARK}" if marked else text


def settings(variant: Variant) -> str:
    """What a variant overrides against the sweep's base, as the sweep wrote it."""
    return ", ".join(f"{k}={_value(v)}" for k, v in variant.overrides.items()) or "(base)"


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(
                f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items()
            )
            + "}"
        )
    return str(value)


def interval_note(study: Study) -> str:
    judged = f"answers judged by {', '.join(study.judges)}; " if study.judges else ""
    return judged + _intervals(study) + _own_seeds(study) + _seeded(study)


def seeds_text(study: Study) -> str:
    """The study's seeds, and how many a variant has where that differs between them."""
    listed = ", ".join(map(str, study.seeds)) or "none"
    counts = study.seed_counts
    return listed if len(counts) < 2 else f"{listed} ({_count_range(counts)} a variant)"


def _count_range(counts: list[int]) -> str:
    """'8', or '8 to 12' where variants have different seed counts."""
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"


def _own_seeds(study: Study) -> str:
    """Where variants have different seeds, which seeds a mean and a Δ are over."""
    if len(study.seed_counts) < 2:
        return ""
    return (
        "; a variant's mean is over its own seeds (the seeds column), its Δ over the seeds "
        "both sides ran (evidence.md: how many)"
    )


def _seeded(study: Study) -> str:
    """Which stages a seed varies, so a reader knows which variance the intervals carry."""
    if len(study.seeds) < 2 or study.spec.stage1_per_seed:
        return ""
    return (
        "; the seeds vary stage 2 and evaluation only (`stage1_per_seed: false`): a variant's "
        "seeds share one stage 1, so the intervals leave stage 1's seed-to-seed variance out"
    )


def _intervals(study: Study) -> str:
    counts = study.seed_counts or [0]
    seeds = _count_range(counts)
    if counts[-1] >= 2:
        return (
            f"mean ± 95% interval over {seeds} seeds and the evaluation items (Student t, "
            "variance of seeds and of images by a two-way random-effects model, Satterthwaite "
            "degrees of freedom; training losses over the seeds alone); Δ: difference from "
            f"{study.baseline} paired by seed and question, with its 95% interval"
        )
    return (
        "one seed: every interval is a paired bootstrap over the questions both runs answered "
        "(2,000 resamples or more), so it shows the evaluation set's noise, not seed-to-seed "
        "variation, and no verdict is drawn from it"
    )
