"""The study's tables, from a `Study` (MLflow alone): pandas frames of display cells, written
as Markdown, LaTeX (booktabs) and CSV under `results/<sweep>/`.

- `ablation_table`: per variant, the headline metrics as mean ± 95% interval over seeds, the
  difference from the baseline paired by seed with its interval and a † where the interval
  contains 0, the settings the variant overrides, and the paper's row where it names one;
- `openvqa_table`: the paper's Tables 1 and 2 (correct/total per class and Overall), ours per
  variant with the paper's published row beside each, then the paper's other models;
- `mme_table`: MME score per subtask with perception and cognition totals;
- `run_table`: every run × seed with its raw metrics (`summary.*`).
Not here: reading MLflow (`ablations.study`), plots, findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ablations.reference import BASELINE_ROW, PaperRow, paper_figures
from ablations.spec import SweepSpec, Variant
from ablations.stats import Estimate
from ablations.study import Study
from lynx_core.atomic import write_text
from lynx_core.evaluate.metric_names import class_key
from lynx_core.evaluate.mme import COGNITION, PERCEPTION

NOISE_MARK = "†"
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
)


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


def fmt_delta(estimate: Estimate, digits: int = 1) -> str:
    """'+1.2 ± 0.8', with † where the interval contains 0 (or there is none)."""
    if math.isnan(estimate.value):
        return "–"
    text = f"{estimate.value:+.{digits}f}"
    if estimate.known:
        text += f" ± {estimate.half_width:.{digits}f}"
    return f"{text} {NOISE_MARK}" if estimate.within_noise else text


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
    return judged + _intervals(study)


def _intervals(study: Study) -> str:
    seeds = len(study.seeds)
    if seeds >= 2:
        return (
            f"mean ± 95% interval over {seeds} seeds (Student t); Δ: difference from "
            f"{study.baseline} paired by seed, with its 95% t interval"
        )
    return (
        "one seed: every interval is a paired bootstrap over the questions both runs answered "
        "(2000 resamples), so it shows the evaluation set's noise, not seed-to-seed variation"
    )


def ablation_table(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display cells, numbers) per variant: headline means, deltas, paper row, settings."""
    figures = paper_figures()
    paper_base = figures.row(BASELINE_ROW)
    cells, numbers = [], []
    for group in study.groups:
        variant = study.variant(group)
        row = {"variant": group, "seeds": len(study.values(group, HEADLINES[0].metric))}
        number: dict[str, Any] = {"variant": group, "seeds": row["seeds"]}
        for h in HEADLINES:
            if not study.has(h.metric):
                continue
            value, delta = study.estimate(group, h.metric), study.delta(group, h.metric)
            row[h.label] = fmt(value)
            if study.baseline is not None:
                row[f"Δ {h.label}"] = "" if group == study.baseline else fmt_delta(delta)
            number |= _numbers(h.metric, value, delta)
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


def _numbers(metric: str, value: Estimate, delta: Estimate) -> dict[str, Any]:
    return {
        f"{metric}/mean": value.value,
        f"{metric}/low": value.low,
        f"{metric}/high": value.high,
        f"{metric}/interval": value.method,
        f"{metric}/delta": delta.value,
        f"{metric}/delta_low": delta.low,
        f"{metric}/delta_high": delta.high,
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
    """MME score (acc + acc+, at most 200) per subtask, perception and cognition totals."""
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
    if lynx is not None and lynx.mme:
        row = {"model": f"paper: {BASELINE_ROW}"}
        row |= {t: f"{lynx.mme[t]:.1f}" if t in lynx.mme else "–" for t in subtasks}
        totals = {"perception": lynx.mme_perception, "cognition": lynx.mme_cognition}
        cells.append(row | {k: f"{v:.2f}" for k, v in totals.items()})
        numbers.append({"model": BASELINE_ROW, "source": "paper", **lynx.mme, **totals})
    return pd.DataFrame(cells), pd.DataFrame(numbers)


EVIDENCE = (("openvqa/overall", "image", 3.0), ("openvqa_video/overall", "video", 5.0))


def evidence_table(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How precisely the evaluation set knows one seed's difference from the baseline: the
    paired bootstrap 95% half-width over the questions, per variant its widest over seeds."""
    if study.baseline is None:
        return pd.DataFrame(), pd.DataFrame()
    cells, numbers = [], []
    for group in study.groups:
        if group == study.baseline:
            continue
        row, number = {"variant": group}, {"variant": group}
        for metric, kind, target in EVIDENCE:
            found = [
                study.seed_delta(group, seed, metric, study.baseline)
                for seed in sorted(set(study.values(group, metric)))
                if seed in study.values(study.baseline, metric)
            ]
            found = [e for e in found if e is not None and e.known]
            if not found:
                continue
            widest = max(e.half_width for e in found)
            row[f"{kind}: ± (target ±{target:g})"] = f"{widest:.2f}"
            row[f"{kind} questions"] = str(found[0].n)
            number |= {f"{metric}/half_width": widest, f"{metric}/questions": found[0].n}
        cells.append(row)
        numbers.append(number)
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
    if "tags.lynx_judge" in runs:  # which judge scored each run (rule-v1, gpt:<model>)
        table["judge"] = runs["tags.lynx_judge"].to_numpy()
    return table


def write_table(
    out: Path, name: str, cells: pd.DataFrame, numbers: pd.DataFrame, title: str, note: str
) -> list[Path]:
    """`<name>.md` (title, note, table), `.tex` (booktabs) and `.csv` (the numbers)."""
    md, tex, csv = (out / f"{name}.{ext}" for ext in ("md", "tex", "csv"))
    write_text(md, f"# {title}\n\n{note}\n\n{cells.to_markdown(index=False)}\n")
    write_text(tex, latex(cells, f"{title}. {note}", f"tab:{name}"))
    write_text(csv, numbers.to_csv(index=False))
    return [md, tex, csv]


def latex(cells: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table of display cells (pandas' Styler writes the rules)."""
    escaped = cells.rename(columns=_tex).map(_tex)
    return escaped.style.hide(axis="index").to_latex(
        caption=_tex(caption), label=label, hrules=True, column_format="l" * len(cells.columns)
    )


_TEX = {
    **{ch: "\\" + ch for ch in "&%$#_{}"},
    "\\": r"\textbackslash{}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "†": r"\dag{}",
    "Δ": r"$\Delta$",
    "↳": r"$\hookrightarrow$",
    "–": "--",
    "−": "-",
}


def _tex(text: Any) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def write_tables(spec: SweepSpec, study: Study, out: Path) -> list[Path]:
    """Every table of the study into `out`; returns the files written."""
    note = interval_note(study)
    written = []
    cells, numbers = ablation_table(study)
    legend = f"{note}; {NOISE_MARK}: the interval contains 0 (within noise)."
    if study.baseline is None:
        legend = f"{note}. No baseline (set `baseline:` in the sweep) and so no Δ."
    paper = f"paper: {paper_figures().source}"
    written += write_table(
        out, "ablation", cells, numbers, f"{spec.experiment}: ablations", f"{legend} {paper}."
    )
    for kind, number in (("image", 1), ("video", 2)):
        cells, numbers = openvqa_table(study, kind)
        title = f"{spec.experiment}: Open-VQA {kind} (the paper's Table {number})"
        text = (
            "correct/total per class (ours: mean over seeds), Overall = all correct / all "
            f"questions; ↳ rows are the paper's published numbers ({paper_figures().source})."
        )
        written += write_table(out, f"openvqa_{kind}", cells, numbers, title, text)
    cells, numbers = mme_table(study)
    if not cells.empty:
        text = f"score = acc + acc+ per subtask (at most 200); totals: {note}."
        written += write_table(out, "mme", cells, numbers, f"{spec.experiment}: MME", text)
    cells, numbers = evidence_table(study)
    if not cells.empty:
        text = (
            "per variant, the widest over its seeds of the 95% half-width of its difference from "
            f"{study.baseline} on one seed, from a paired bootstrap over the questions both "
            "answered (2000 resamples): the evaluation set's own noise, before seeds'."
        )
        title = f"{spec.experiment}: how precisely one seed's difference is known"
        written += write_table(out, "evidence", cells, numbers, title, text)
    runs = run_table(study)
    md, csv = out / "summary.md", out / "summary.csv"
    title = f"# {spec.experiment}: every run\n\n{spec.description}\n\n"
    write_text(md, title + runs.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_text(csv, runs.to_csv(index=False))
    return [*written, md, csv]
