"""`evidence.md`: per comparison what decides it, the paired seeds, the method, the seeds' and the
items' shares of its uncertainty, the minimum detectable effect at 80% power beside the
study's target, the seeds that would reach it, and the classes the seeds' spread comes from."""

from __future__ import annotations

import math

import pandas as pd

from ablations.results.formatting import fmt_delta
from ablations.results.stats import POWER, Estimate, variance_shares
from ablations.results.study import Study
from ablations.results.tables import IMAGE_CLASSES, VIDEO_CLASSES
from lynx_core.evaluate.metric_names import class_key

EVIDENCE = (("openvqa/overall", "image", 4.0), ("openvqa_video/overall", "video", 8.0))


def evidence_table(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per comparison the tables and findings make (each variant against the baseline, and
    against its `compare_to`), on image and video Overall: how many paired seeds, by which
    method, the seed-to-seed SD of one seed's difference, the evaluation items' standard
    error, the minimum detectable effect (80% power at 95%) against its target, how many
    paired seeds would bring it to the target (the study's power plan), and how many would
    make the observed difference significant."""
    if study.baseline is None:
        return pd.DataFrame(), pd.DataFrame()
    pairs = [(g, study.baseline) for g in study.groups if g != study.baseline]
    pairs += [
        (g, v.compare_to)
        for g in study.groups
        if (v := study.variant(g)).compare_to in study.groups
    ]
    cells, numbers = [], []
    for group, against in pairs:
        row, number = {"comparison": f"{group} − {against}"}, {"variant": group, "against": against}
        for metric, kind, target in EVIDENCE:
            delta = study.delta(group, metric, against)
            if math.isnan(delta.value):
                continue
            mde = delta.detectable()
            seeds = delta.seeds_to_decide()
            planned = delta.seeds_for(target)
            parts = delta.parts
            row[f"{kind} Δ"] = fmt_delta(delta)
            row[f"{kind} seeds"] = str(parts.seeds or min(delta.n, 1))
            row[f"{kind} method"] = delta.method
            row[f"{kind} seed SD"] = _num(parts.seed_sd)
            row[f"{kind} item SE"] = _num(parts.item_se)
            row[f"{kind} MDE (≤ {target:g})"] = _num(mde)
            row[f"{kind} seeds for ≤ {target:g}"] = _planned(delta, planned)
            row[f"{kind} seeds to decide"] = _seeds_needed(delta, seeds)
            shares = spread_sources(study, group, against, kind)
            row[f"{kind} seed spread from"] = _top_shares(shares)
            number |= {f"{metric}/spread_share/{c}": share for c, share in shares.items()}
            number |= {
                f"{metric}/delta": delta.value,
                f"{metric}/seeds": parts.seeds or min(delta.n, 1),
                f"{metric}/method": delta.method,
                f"{metric}/seed_sd": parts.seed_sd,
                f"{metric}/item_se": parts.item_se,
                f"{metric}/se": delta.se,
                f"{metric}/df": delta.df,
                f"{metric}/mde": mde,
                f"{metric}/mde_target": target,
                f"{metric}/seeds_for_target": planned,
                f"{metric}/seeds_to_decide": seeds,
            }
        cells.append(row)
        numbers.append(number)
    return pd.DataFrame(cells), pd.DataFrame(numbers)


def spread_sources(study: Study, group: str, against: str, kind: str) -> dict[str, float]:
    """Each Open-VQA class's share of the seed-to-seed variance of `group` − `against` on
    Overall (all correct / all questions, so the difference is a sum over classes): where the
    seeds' disagreement comes from, e.g. one skill learned by some seeds and not others."""
    split = "openvqa" if kind == "image" else "openvqa_video"
    known = IMAGE_CLASSES if kind == "image" else VIDEO_CLASSES
    classes = [class_key(c) for c in known if study.has(f"{split}/{class_key(c)}/total")]

    def per_seed(name: str) -> dict[int, dict[str, float]]:
        correct = {c: study.values(name, f"{split}/{c}/correct") for c in classes}
        total = {c: study.values(name, f"{split}/{c}/total") for c in classes}
        seeds = set.intersection(*(set(correct[c]) & set(total[c]) for c in classes))
        return {
            s: {c: 100 * correct[c][s] / sum(total[k][s] for k in classes) for c in classes}
            for s in seeds
            if sum(total[k][s] for k in classes) > 0
        }

    if not classes:
        return {}
    ours, theirs = per_seed(group), per_seed(against)
    seeds = sorted(set(ours) & set(theirs))
    return variance_shares({c: [ours[s][c] - theirs[s][c] for s in seeds] for c in classes})


def _top_shares(shares: dict[str, float], top: int = 2) -> str:
    if not shares:
        return "–"
    largest = sorted(shares, key=lambda c: -shares[c])[:top]
    return ", ".join(f"{c} {shares[c]:.0%}" for c in largest)


def _num(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def _planned(delta: Estimate, seeds: int | None) -> str:
    if delta.parts.seeds < 2:
        return "–"
    return "more questions" if seeds is None else str(seeds)


def _seeds_needed(delta: Estimate, seeds: int | None) -> str:
    if delta.parts.seeds < 2:
        return "–"
    if seeds is not None:
        return "decided" if seeds <= delta.parts.seeds and not delta.within_noise else str(seeds)
    return "more questions" if abs(delta.value) > 0 else "no effect seen"


def evidence_summary(numbers: pd.DataFrame) -> str:
    """One line per metric: how many comparisons meet the target MDE, and the largest."""
    lines = []
    for metric, kind, target in EVIDENCE:
        column = f"{metric}/mde"
        if column not in numbers:
            continue
        mdes = numbers[column].dropna()
        if mdes.empty:
            lines.append(f"{kind} Overall: no comparison has an MDE (fewer than 2 seeds)")
            continue
        met = int((mdes <= target).sum())
        plan = numbers.get(f"{metric}/seeds_for_target", pd.Series(dtype=float))[mdes.index]
        needed = (
            f"{int(plan.max())} paired seeds would bring every one to it"
            if plan.notna().all()
            else "no number of seeds brings every one to it (the items' own noise)"
        )
        lines.append(
            f"{kind} Overall: {met} of {len(mdes)} comparisons detect {target:g} points "
            f"(MDE at {POWER:.0%} power, 95%; the largest {mdes.max():.2f}, median "
            f"{mdes.median():.2f}); {needed}"
        )
    return "; ".join(lines)
