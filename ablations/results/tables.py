"""The study's tables, from a `Study` (MLflow alone): pandas frames of display cells (written
as Markdown, LaTeX and CSV by `ablations.results.table_files`).

- `ablation_table`: per variant, the headline metrics as mean ± 95% interval (seeds and
  evaluation items), the difference from the baseline paired by seed with its interval and a
  † where it is not significant once the whole table's comparisons are controlled together
  (Benjamini–Hochberg), the settings the variant overrides, and the paper's row where it
  names one;
- `openvqa_table`: the paper's Tables 1 and 2 (correct/total per class and Overall), ours per
  variant with the paper's published row beside each, then the paper's other models;
- `mme_table`: MME score per subtask with perception and cognition totals, the paper's beside
  ours on the subtasks both have;
- `run_table`: every run × seed with its raw metrics (`summary.*`).
Beside it: `evidence` (what decides each comparison), `formatting` (how numbers are written),
`table_files` (every table written). Not here: reading MLflow (`ablations.results.study`),
plots, findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ablations.results.formatting import digits, fmt, fmt_delta, settings
from ablations.results.stats import Estimate, benjamini_hochberg
from ablations.results.study import Study
from ablations.sweep.reference import BASELINE_ROW, PaperRow, paper_figures
from lynx_core.evaluate.metric_names import class_key
from lynx_core.evaluate.mme import COGNITION, PERCEPTION

IMAGE_CLASSES = ("OCR", "Counting", "Reasoning", "Place", "Color", "Spatial", "Action", "Others")
VIDEO_CLASSES = ("Action(Y/N)", "Others", "Temporal")


@dataclass(frozen=True)
class Headline:
    metric: str  # MLflow metric name
    label: str  # column title
    paper: str | None = None  # the PaperRow field that publishes it, if any


HEADLINES = (
    Headline("openvqa/overall", "image Overall %", "image_overall"),
    Headline("openvqa_video/overall", "video Overall %", "video_overall"),
    Headline("mme/perception", "MME perception", "mme_perception"),
    Headline("compliance/overall", "length-instruction compliance %"),
    Headline("compliance/detailed_words", "words when asked for detail"),
    Headline("hallucination/chair_s", "answers naming absent things %"),
    Headline("stage2/val_loss_area", "stage-2 held-out loss area"),
)


FDR = 0.05  # the ablation table's marks: Benjamini–Hochberg over all its comparisons


def ablation_table(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display cells, numbers) per variant: headline means, deltas, paper row, settings."""
    figures = paper_figures()
    paper_base = figures.row(BASELINE_ROW)
    metrics = [h for h in HEADLINES if study.has(h.metric)]
    noise = table_noise(study, [h.metric for h in metrics])
    cells, numbers = [], []
    for group in study.groups:
        variant = study.variant(group)
        row = {"variant": group, "seeds": len(study.values(group, HEADLINES[0].metric))}
        number: dict[str, Any] = {"variant": group, "seeds": row["seeds"]}
        for h in metrics:
            value, delta = study.estimate(group, h.metric), study.delta(group, h.metric)
            marked, q = noise.get((group, h.metric), (None, math.nan))
            row[h.label] = fmt(value, digits(h.metric))
            if study.baseline is not None:
                shown = fmt_delta(delta, digits(h.metric), marked)
                row[f"Δ {h.label}"] = "" if group == study.baseline else shown
            number |= _numbers(h.metric, value, delta, q)
        if any(v.compare_to for v in study.variants):  # a second reference, where named
            for h in HEADLINES[:2]:
                other = variant.compare_to
                delta = study.delta(group, h.metric, other) if other in study.groups else None
                cell = f"vs {other}: {fmt_delta(delta)}" if delta is not None else ""
                row[f"Δ {h.label.split()[0]} vs its reference"] = cell
                number[f"{h.metric}/delta_vs_reference"] = delta.value if delta else None
        paper = figures.row(variant.paper_row)
        for h in HEADLINES[:2]:
            row[f"paper {h.label.split()[0]} (Δ)"] = _paper_cell(paper, paper_base, h.paper)
            number[f"paper/{h.metric}"] = getattr(paper, h.paper) if paper else None
        row["paper row"] = variant.paper_row or ""
        row["settings"] = number["settings"] = settings(variant)
        cells.append(row)
        numbers.append(number)
    return pd.DataFrame(cells), pd.DataFrame(numbers)


def table_noise(study: Study, metrics: list[str]) -> dict[tuple[str, str], tuple[bool, float]]:
    """(variant, metric) → (within noise, Benjamini–Hochberg q) for every difference from
    the baseline the table shows, controlled together: with 22 variants × 7 metrics, some
    unadjusted 95% intervals exclude 0 by chance alone."""
    if study.baseline is None:
        return {}
    cases = [(g, m) for g in study.groups if g != study.baseline for m in metrics]
    deltas = [study.delta(g, m) for g, m in cases]
    usable = [i for i, d in enumerate(deltas) if d.known and not math.isnan(d.value)]
    adjusted = benjamini_hochberg([deltas[i].p_value for i in usable])
    q = dict(zip(usable, adjusted, strict=True))
    return {case: (q.get(i, 1.0) >= FDR, q.get(i, math.nan)) for i, case in enumerate(cases)}


def _numbers(metric: str, value: Estimate, delta: Estimate, q: float) -> dict[str, Any]:
    return {
        f"{metric}/mean": value.value,
        f"{metric}/low": value.low,
        f"{metric}/high": value.high,
        f"{metric}/interval": value.method,
        f"{metric}/delta": delta.value,
        f"{metric}/delta_low": delta.low,
        f"{metric}/delta_high": delta.high,
        f"{metric}/delta_p": delta.p_value if not math.isnan(delta.value) else None,
        f"{metric}/delta_q": q,
        f"{metric}/within_noise": delta.within_noise if not math.isnan(delta.value) else None,
    }


def _paper_cell(row: PaperRow | None, base: PaperRow | None, field: str | None) -> str:
    value = getattr(row, field) if row and field else None
    if value is None:
        return ""
    reference = getattr(base, field) if base else None
    if reference is None or row is base:
        return f"{value:.2f}"
    return f"{value:.2f} ({value - reference:+.2f})"


def openvqa_table(study: Study, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's Table 1 (image) or 2 (video): correct/total per class and Overall (%),
    ours as the mean over seeds, each followed by the paper's row it names."""
    split = "openvqa" if kind == "image" else "openvqa_video"
    figures = paper_figures()
    totals = figures.image_totals if kind == "image" else figures.video_totals
    known = IMAGE_CLASSES if kind == "image" else VIDEO_CLASSES
    ours = [c for c in known if study.has(f"{split}/{class_key(c)}/total")]
    classes = list(dict.fromkeys([*totals, *ours]))
    cells, numbers, shown = [], [], set()
    for group in study.groups:
        row = {"model": f"ours: {group}"}
        number: dict[str, Any] = {"model": group, "source": "ours"}
        for c in classes:
            correct = study.estimate(group, f"{split}/{class_key(c)}/correct")
            total = study.estimate(group, f"{split}/{class_key(c)}/total")
            row[c] = "–" if math.isnan(total.value) else f"{correct.value:.1f}/{total.value:.0f}"
            number[f"{c}/correct"], number[f"{c}/total"] = correct.value, total.value
        overall = study.estimate(group, f"{split}/overall")
        row["Overall %"], number["Overall %"] = fmt(overall), overall.value
        cells.append(row)
        numbers.append(number)
        label = study.variant(group).paper_row
        paper = figures.row(label)
        if paper is not None and getattr(paper, kind) is not None:
            cells.append(_paper_row(f"↳ paper: {label}", paper, kind, classes, totals))
            numbers.append({"model": label, "source": "paper", **_paper_numbers(paper, kind)})
            shown.add(label)
    for label, paper in figures.rows.items():  # the paper's other models
        if label not in shown and getattr(paper, kind) is not None:
            cells.append(_paper_row(f"paper: {label}", paper, kind, classes, totals))
            numbers.append({"model": label, "source": "paper", **_paper_numbers(paper, kind)})
    return pd.DataFrame(cells), pd.DataFrame(numbers)


def _paper_row(title: str, paper: PaperRow, kind: str, classes, totals) -> dict[str, str]:
    counts = getattr(paper, kind)
    row = {"model": title}
    for c in classes:
        row[c] = f"{counts[c]}/{totals[c]}" if c in counts and c in totals else "–"
    row["Overall %"] = f"{getattr(paper, f'{kind}_overall'):.2f}"
    return row


def _paper_numbers(paper: PaperRow, kind: str) -> dict[str, Any]:
    counts = getattr(paper, kind) or {}
    return {
        **{f"{c}/correct": n for c, n in counts.items()},
        "Overall %": getattr(paper, f"{kind}_overall"),
    }


def mme_table(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MME score (acc + acc+, at most 200) per subtask, perception and cognition totals; the
    paper's Lynx beside ours on the subtasks both have, its totals over those alone (the toy
    suite asks 5 of MME's 10 perception subtasks: a total of 10 is not comparable)."""
    subtasks = [t for t in (*PERCEPTION, *COGNITION) if study.has(f"mme/{t}/score")]
    if not subtasks:
        return pd.DataFrame(), pd.DataFrame()
    cells, numbers = [], []
    for group in study.groups:
        row, number = {"model": f"ours: {group}"}, {"model": group, "source": "ours"}
        for t in subtasks:
            value = study.estimate(group, f"mme/{t}/score")
            row[t], number[t] = f"{value.value:.1f}", value.value
        for total in ("perception", "cognition"):
            value = study.estimate(group, f"mme/{total}")
            row[total], number[total] = fmt(value), value.value
        cells.append(row)
        numbers.append(number)
    lynx = paper_figures().row(BASELINE_ROW)
    matched = [t for t in subtasks if lynx is not None and lynx.mme and t in lynx.mme]
    if matched:
        row = {"model": f"paper: {BASELINE_ROW} (the subtasks ours has)"}
        row |= {t: f"{lynx.mme[t]:.1f}" if t in matched else "–" for t in subtasks}
        totals = {
            total: sum(lynx.mme[t] for t in matched if t in names) or None
            for total, names in (("perception", PERCEPTION), ("cognition", COGNITION))
        }
        cells.append(row | {k: "–" if v is None else f"{v:.2f}" for k, v in totals.items()})
        paper = {t: lynx.mme[t] for t in matched}
        numbers.append({"model": BASELINE_ROW, "source": "paper", **paper, **totals})
    return pd.DataFrame(cells), pd.DataFrame(numbers)


RUN_COLUMNS = {
    "openvqa/overall": "image Overall %",
    "openvqa_video/overall": "video Overall %",
    "mme/perception": "MME perception",
    "compliance/one_word": "follows 'one word' %",
    "compliance/detailed": "follows 'in detail' %",
    "llm_compliance/overall": "its LLM's compliance %",
    "stage1/final_loss": "stage1 loss",
    "stage2/final_loss": "stage2 loss",
    "params/trainable": "trainable params",
    "owleval/score": "OwlEval score",
}


def run_table(study: Study) -> pd.DataFrame:
    """One row per finished run (variant × seed): its raw final metrics."""
    runs = study.runs
    if runs.empty:
        return pd.DataFrame(columns=["run"])
    names = {(v.group, v.seed): v.name for v in study.variants}
    table = pd.DataFrame(
        {
            "run": [names[g, s] for g, s in zip(runs["group"], runs["seed"], strict=True)],
            "variant": runs["group"],
            "seed": runs["seed"],
        }
    )
    for metric, label in RUN_COLUMNS.items():
        if f"metrics.{metric}" in runs:
            table[label] = runs[f"metrics.{metric}"].to_numpy()
    if "trainable params" in table:
        table["trainable params"] = table["trainable params"].astype("Int64")
    if "tags.lynx_judge" in runs:  # which judge scored each run (rule-v2, gpt:<model>)
        table["judge"] = runs["tags.lynx_judge"].to_numpy()
    return table
