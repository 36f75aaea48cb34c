"""Every table of a study written under `results/<sweep>/` as Markdown, LaTeX (booktabs) and
CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ablations.results.choices import choice_note, tuning_cells
from ablations.results.evidence import evidence_summary, evidence_table
from ablations.results.formatting import NOISE_MARK, interval_note
from ablations.results.stats import POWER
from ablations.results.study import Study
from ablations.results.tables import (
    FDR,
    ablation_table,
    mme_table,
    openvqa_table,
    run_table,
)
from ablations.sweep.reference import paper_figures
from ablations.sweep.tuning import edge_note
from lynx_core.atomic import write_text


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


def write_tables(study: Study, out: Path, tuning: pd.DataFrame | None = None) -> list[Path]:
    """Every table of the study into `out`; returns the files written. The sweep is the
    study's own, with the choices its tuning made (`Study.load`); `tuning`: the table of its
    tuning candidates (`choices.read_tuning`), None when the sweep does not tune."""
    spec = study.spec
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
    if tuning is not None:
        numbers = tuning
        text = (
            f"each tuned variant's candidates ({', '.join(spec.tuned_fields)}), scored by "
            f"{spec.tune.metric} on the validation split (kept apart from training and from "
            f"the test questions), mean over the tuning seeds; ✓: the value it chose "
            f"({'highest' if spec.tune.goal == 'max' else 'lowest'} score), with which every "
            "table's numbers of it were run; `vs chosen`: each other candidate's score minus "
            "the choice's, paired by tuning seed and validation question, with its 95% "
            "interval (seeds and questions, as the study's; one tuning seed: the questions "
            f"alone; † it holds 0, unadjusted). {edge_note(spec)} {choice_note(numbers, spec)}"
        )
        title = f"{spec.experiment}: fair tuning on the validation split"
        written += write_table(out, "tuning", tuning_cells(numbers), numbers, title, text)
    runs = run_table(study)
    md, csv = out / "summary.md", out / "summary.csv"
    title = f"# {spec.experiment}: every run\n\n{spec.description}\n\n"
    shown = runs.astype(object).where(runs.notna(), None)  # a metric not recorded: "–"
    table = shown.to_markdown(index=False, floatfmt=".2f", missingval="–")
    write_text(md, title + table + "\n")
    write_text(csv, runs.to_csv(index=False))
    return [*written, md, csv]
