"""A sweep's report: every table, plot and `findings.md`, rebuilt from MLflow alone.

`build_report` reads the sweep's finished runs (`ablations.results.study`), writes the
tables (`ablations.results.table_files`), figures (`ablations.results.plots`) and findings
(`ablations.results.findings_markdown`) under `results/<sweep>/` with a README that says how
to read each and all of them on one page (`index.html`, `ablations.results.report_page`),
and logs them as artifacts of the sweep's parent MLflow run. `make sweep` ends with it;
`make tables` runs it alone (no retraining; a store copied from a cluster is enough).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException

from ablations.results.choices import read_tuning
from ablations.results.findings import Finding, findings
from ablations.results.findings_markdown import findings_markdown
from ablations.results.formatting import seeds_text
from ablations.results.plots import write_plots
from ablations.results.report_page import PAGE, write_page
from ablations.results.study import Study
from ablations.results.table_files import write_tables
from ablations.results.tables import HEADLINES, ablation_table
from ablations.sweep.spec import SweepSpec
from ablations.tracking.track import NOTE, ROLE, SWEEP
from ablations.tracking.ui import description
from lynx_core.atomic import write_text

ARTIFACTS = "report"  # where the parent run keeps them

GUIDE = {  # file → how to read it
    "README.md": "this index",
    PAGE: "the whole report on one page, to open in a browser: the findings with their "
    "verdicts first, then the figures and tables behind them (every table sorts by a click "
    "on its header)",
    "findings.md": "the paper's conclusions tested on this sweep: each claim, the variants "
    "and metric it compares, our difference with its interval and p, the verdict (Holm across "
    "the claims), the paper's numbers",
    "ablation.md": "one row per variant: headline metrics as mean ± 95% interval (seeds and "
    "items), Δ against the baseline (paired by seed; † = not significant across the table, "
    "Benjamini–Hochberg), the paper's row and what the variant sets",
    "openvqa_image.md": "the paper's Table 1: correct/total per Open-VQA image class and "
    "Overall, ours per variant with the paper's published row under each (↳)",
    "openvqa_video.md": "the paper's Table 2, the same for the video questions",
    "mme.md": "MME score (acc + acc+, ≤ 200) per subtask, perception and cognition totals",
    "evidence.md": "the evidence behind each comparison: paired seeds, method, seed-to-seed SD, "
    "the items' standard error, the minimum detectable effect, the seeds that would bring it to "
    "its target or decide it, and the classes the seeds' spread comes from",
    "tuning.md": "the tuned variants' candidates, their validation scores and each one's choice",
    "summary.md": "every run (variant × seed) with its raw final metrics",
    "plots/deltas.png": "each variant's difference from the baseline per headline metric, 95% "
    "interval as a bar (hollow point: within noise), the paper's difference as a red cross",
    "plots/classes.png": "accuracy per Open-VQA class and variant with 95% intervals "
    "(baseline in orange): where a change helps or hurts",
    "plots/tradeoff.png": "correctness (image Overall) against answer length when asked for "
    "detail: the paper's balance between correct and generative answers",
}
CURVES_GUIDE = "training loss of the {} curve per variant: mean over seeds, seeds' range as a band"


@dataclass(frozen=True)
class Report:
    folder: Path
    files: list[Path]
    study: Study
    findings: list[Finding]
    logged_to: str | None  # the parent run holding them as artifacts


def build_report(spec: SweepSpec, results: Path, uri: str | None = None) -> Report:
    out = results / spec.experiment
    study = Study.load(spec, results, uri)
    tuning = read_tuning(study) if spec.tune is not None else None  # read from MLflow once
    files = write_tables(study, out, tuning.numbers if tuning else None)
    files += write_plots(study, out / "plots")
    found = findings(study)
    path = out / "findings.md"
    write_text(path, findings_markdown(study, found, tuning))
    files.append(path)
    files.append(_readme(spec, study, out, files))
    title = f"{spec.experiment}: {spec.description}"
    files.append(write_page(out, title, _intro(spec, study), _guide(files, out), files))
    logged = _log(study, out, files)
    return Report(out, files, study, found, logged)


def _intro(spec: SweepSpec, study: Study) -> str:
    text = (
        f"Built by `make tables {spec.make_args}` from MLflow: {len(study.runs)} finished runs "
        f"of {len(study.variants)} (variants at seeds {seeds_text(study)}), baseline "
        f"`{study.baseline}`. Every file is regenerated each time; none is edited by hand."
    )
    if study.missing:
        text += f"\n\nNot finished yet, so not in these numbers: {', '.join(study.missing)}."
    return text


def _guide(files: list[Path], out: Path) -> dict[str, str]:
    """How to read each file, by its path under `out`."""
    guide = dict(GUIDE)
    for path in files:
        name = path.relative_to(out).as_posix()
        if name.startswith("plots/curves_"):
            curve = name.removeprefix("plots/curves_").removesuffix(".png")
            guide[name] = CURVES_GUIDE.format(curve)
    return guide


def _readme(spec: SweepSpec, study: Study, out: Path, files: list[Path]) -> Path:
    lines = [f"# {spec.experiment}: {spec.description}", "", _intro(spec, study), ""]
    listed = ["README.md", PAGE]
    listed += [p.relative_to(out).as_posix() for p in files if p.suffix != ".tex"]
    guides = _guide(files, out)
    for name in dict.fromkeys(listed):
        if name.endswith(".csv"):
            continue
        guide = guides.get(name)
        link = f"[{name}]({name})"
        extra = " (also `.tex`, booktabs, and `.csv`, the numbers)" if name.endswith(".md") else ""
        if name in ("README.md", PAGE, "findings.md", "summary.md"):
            extra = " (also `.csv`)" if name == "summary.md" else ""
        lines.append(f"- {link}: {guide or ''}{extra}")
    path = out / "README.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def _log(study: Study, out: Path, files: list[Path]) -> str | None:
    """Every file as an artifact of the sweep's parent run (None: there is none, or its
    artifact store is not reachable from here, e.g. a store copied without its artifacts)."""
    client, spec = study.client, study.spec
    experiment = client.get_experiment_by_name(spec.experiment)
    if experiment is None:
        return None
    parents = client.search_runs(
        [experiment.experiment_id],
        f"tags.{ROLE} = 'sweep' and tags.{SWEEP} = '{spec.experiment}'",
        order_by=["attributes.start_time DESC"],
    )
    if not parents:
        return None
    run_id = parents[0].info.run_id
    try:
        for path in files:
            folder = path.parent.relative_to(out).as_posix()
            where = ARTIFACTS if folder == "." else f"{ARTIFACTS}/{folder}"
            client.log_artifact(run_id, str(path), where)
    except (MlflowException, OSError):
        return None
    note = description(spec.experiment, spec.source, experiment.experiment_id, run_id)
    client.set_experiment_tag(experiment.experiment_id, NOTE, note)  # links the page
    return run_id


def headline(study: Study) -> pd.DataFrame:
    """The columns of the ablation table that fit a terminal (its estimates are the study's,
    computed once for the report)."""
    cells, _ = ablation_table(study)
    wanted = ["variant", *(c for h in HEADLINES[:2] for c in (h.label, f"Δ {h.label}"))]
    wanted += [HEADLINES[3].label]
    return cells[[c for c in wanted if c in cells]] if not cells.empty else cells
