"""OwlEval by people, for a whole sweep: rating sheets out of MLflow, ratings back into it.

`export` collects every variant's answers to the OwlEval prompts (the `owleval` split of the
`predictions.jsonl` each variant's run logged in MLflow), copies the images beside the sheets,
and writes `sheet.csv`, `sheet.html` and `key.json` (answers in shuffled anonymous slots; see
`lynx_core.evaluate.owleval`). `import_ratings` reads the filled sheet, scores and ranks the
variants, logs `owleval/score`, `owleval/rank`, `owleval/rated` and grade counts to each
variant's run, and writes `results/<sweep>/owleval_scores.md` / `.csv`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from mlflow.utils.time import get_current_time_millis

from ablations.sweep.spec import SweepSpec
from ablations.tracking.recorded import read_predictions, variant_frame
from ablations.tracking.track import VARIANT
from ablations.tracking.uri import tracking_uri
from lynx_core.atomic import write_text
from lynx_core.evaluate.owleval import GRADES, OwlQuestion, export_sheets, import_ratings


class OwlEvalError(RuntimeError):
    pass


def sheet_folder(spec: SweepSpec, results: Path) -> Path:
    return results / spec.experiment / "owleval"


def _finished_runs(spec: SweepSpec, results: Path) -> pd.DataFrame:
    runs = variant_frame(spec, results)
    if runs.empty:
        raise OwlEvalError(f"no runs of {spec.name!r} in MLflow; run: make sweep {spec.make_args}")
    finished = runs[runs["status"] == "FINISHED"]
    missing = sorted(set(v.name for v in spec.expand()) - set(finished[f"tags.{VARIANT}"]))
    if missing:
        raise OwlEvalError(
            f"variants without a finished run: {', '.join(missing)}; finish the sweep first "
            f"(make sweep {spec.make_args})"
        )
    return finished


def _owl_rows(client: MlflowClient, run_id: str) -> list[dict]:
    return [row for row in read_predictions(client, run_id) if row["split"] == "owleval"]


def export(spec: SweepSpec, results: Path, out: Path | None = None, seed: int = 0) -> list[Path]:
    """Rating sheets for every variant's OwlEval answers; the files written."""
    runs = _finished_runs(spec, results)
    client = MlflowClient(tracking_uri(results))
    out = out or sheet_folder(spec, results)
    answers: dict[str, dict[str, str]] = {}
    questions: dict[str, OwlQuestion] = {}
    for name, run_id in zip(runs[f"tags.{VARIANT}"], runs["run_id"], strict=True):
        rows = _owl_rows(client, run_id)
        if not rows:
            raise OwlEvalError(f"{name}: its predictions hold no OwlEval answers")
        answers[name] = {row["id"]: row["prediction"] for row in rows}
        for row in rows:
            if row["id"] not in questions:
                questions[row["id"]] = OwlQuestion(
                    id=row["id"],
                    image=_copy_image(Path(row["image"]), out),
                    question=row["question"],
                )
    return export_sheets(list(questions.values()), answers, out, seed)


def _copy_image(image: Path, out: Path) -> str:
    """The image beside the sheet (so the HTML shows it anywhere); its path as the sheet says."""
    if not image.is_file():  # evaluated on another machine: point at it as recorded
        return str(image)
    target = out / "images" / f"{image.parent.name}-{image.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image, target)
    return str(target.relative_to(out))


def import_ratings_into_mlflow(
    spec: SweepSpec, results: Path, ratings: Path, key: Path | None = None
) -> pd.DataFrame:
    """Score the filled sheet, log each variant's result to its run; the per-variant table."""
    key = key or ratings.with_name("key.json")
    if not key.is_file():
        raise OwlEvalError(f"{key} not found: pass --key, the key.json written with the sheet")
    table, counts = import_ratings(ratings, key)
    runs = _finished_runs(spec, results)
    run_of = dict(zip(runs[f"tags.{VARIANT}"], runs["run_id"], strict=True))
    unknown = sorted(set(table.index) - set(run_of))
    if unknown:
        raise OwlEvalError(f"{ratings} rates variants not in {spec.name!r}: {', '.join(unknown)}")
    client, now = MlflowClient(tracking_uri(results)), get_current_time_millis()
    for variant, row in table.iterrows():
        metrics = {
            "owleval/score": row["score"],
            "owleval/rank": row["rank"],
            "owleval/rated": row["rated"],
            **{f"owleval/grade_{g}": row[g] for g in GRADES},
        }
        batch = [Metric(name, float(value), now, 0) for name, value in metrics.items()]
        client.log_batch(run_of[variant], metrics=batch)  # one request per variant
    table = table.reset_index()
    folder = results / spec.experiment
    write_text(folder / "owleval_scores.csv", table.to_csv(index=False))
    note = f"\n\n{int(counts['unrated'])} of {int(counts['rows'])} answers unrated.\n"
    write_text(folder / "owleval_scores.md", table.to_markdown(index=False) + note)
    return table
