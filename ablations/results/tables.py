"""The study's tables, from a `Study` (MLflow alone): pandas frames of display cells, written
as Markdown, LaTeX (booktabs) and CSV under `results/<sweep>/`.

- `ablation_table`: per variant, the headline metrics as mean ± 95% interval (seeds and
  evaluation items), the difference from the baseline paired by seed with its interval and a
  † where it is not significant once the whole table's comparisons are controlled together
  (Benjamini–Hochberg), the settings the variant overrides, and the paper's row where it
  names one;
- `openvqa_table`: the paper's Tables 1 and 2 (correct/total per class and Overall), ours per
  variant with the paper's published row beside each, then the paper's other models;
- `mme_table`: MME score per subtask with perception and cognition totals, the paper's beside
  ours on the subtasks both have;
- `evidence_table`: per comparison, what decides it: paired seeds, the method, the seeds' and
  the items' share of its uncertainty, the minimum detectable effect, the seeds it needs and
  the classes the seeds' spread comes from;
- `run_table`: every run × seed with its raw metrics (`summary.*`).
Not here: reading MLflow (`ablations.results.study`), plots, findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ablations.results.stats import POWER, Estimate, benjamini_hochberg, variance_shares
from ablations.results.study import Study
from ablations.sweep.reference import BASELINE_ROW, PaperRow, paper_figures
from ablations.sweep.spec import SweepSpec
from ablations.sweep.variant import Variant
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
    Headline("hallucination/chair_s", "answers naming absent things %"),
    Headline("stage2/val_loss_area", "stage-2 held-out loss area"),
)
FDR = 0.05  # the ablation table's marks: Benjamini–Hochberg over all its comparisons


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
    return judged + _intervals(study)


def _intervals(study: Study) -> str:
    seeds = len(study.seeds)
    if seeds >= 2:
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


def tuning_table(study: Study) -> pd.DataFrame:
    """The tuning candidates' validation scores and which each variant chose."""
    from ablations.tracking.recorded import tuning_scores

    scores = tuning_scores(study.spec, Path("."), study.client.tracking_uri)
    if scores.empty:
        return scores
    chosen = study.spec.choices
    fields = list(study.spec.tuned_fields)
    scores["chosen"] = [
        chosen.get(row["variant"]) == {f: row[f] for f in fields} for _, row in scores.iterrows()
    ]
    return scores


def _tuning_cells(numbers: pd.DataFrame) -> pd.DataFrame:
    if numbers.empty:
        return numbers
    cells = numbers.drop(columns=["complete"]).copy()
    cells["score"] = [f"{v:.2f}" if not math.isnan(v) else "–" for v in cells["score"]]
    cells["chosen"] = ["✓" if c else "" for c in cells["chosen"]]
    return cells


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
    "✓": r"$\checkmark$",
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
    legend = (
        f"{note}; {NOISE_MARK}: within noise, the difference not significant once all the "
        f"table's differences from {study.baseline} are controlled together "
        f"(Benjamini–Hochberg, false discovery rate {FDR:.0%})."
    )
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
            "per comparison, what decides it: paired seeds and the interval's method "
            "(seeds+items: both sources of variance; t: seeds alone; bootstrap: one seed's "
            "questions, no verdict), the SD of one seed's difference over the seeds, the "
            "evaluation items' standard error, the minimum detectable effect (MDE: the "
            f"difference found {POWER:.0%} of the time at 95%) against its target, the "
            "paired seeds that would bring it to the target, the paired seeds that would make "
            "the observed difference significant ('more questions': no number of seeds can, "
            "the items' own noise is too large), and the Open-VQA classes the seeds' spread "
            "comes from (each class's share of the seed-to-seed variance of the difference). "
            f"{evidence_summary(numbers)}."
        )
        title = f"{spec.experiment}: the evidence behind each comparison"
        written += write_table(out, "evidence", cells, numbers, title, text)
    if spec.tune is not None:
        numbers = tuning_table(study)
        text = (
            f"each tuned variant's candidates ({', '.join(spec.tuned_fields)}), scored by "
            f"{spec.tune.metric} on the validation split (kept apart from training and from "
            f"the test questions), mean over the tuning seeds; ✓: the value it chose "
            f"({'highest' if spec.tune.goal == 'max' else 'lowest'} score), with which every "
            "table's numbers of it were run."
        )
        title = f"{spec.experiment}: fair tuning on the validation split"
        written += write_table(out, "tuning", _tuning_cells(numbers), numbers, title, text)
    runs = run_table(study)
    md, csv = out / "summary.md", out / "summary.csv"
    title = f"# {spec.experiment}: every run\n\n{spec.description}\n\n"
    write_text(md, title + runs.to_markdown(index=False, floatfmt=".2f") + "\n")
    write_text(csv, runs.to_csv(index=False))
    return [*written, md, csv]
