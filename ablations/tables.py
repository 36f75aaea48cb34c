"""Tables from MLflow only (never retraining): one row per variant of a sweep.

Reads the sweep's variant runs into pandas and writes `results/<sweep>/summary.md` and `.csv`:
Open-VQA accuracy per class and overall, the delta against the sweep's baseline, final losses
and trainable parameters. Paper-style tables and plots build on this frame.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from ablations.backends import tracking_uri
from ablations.spec import SweepSpec
from ablations.track import ROLE, SWEEP, VARIANT
from lynx_core.atomic import write_text
from lynx_core.evaluate.metric_names import class_key

IMAGE_CLASSES = ("OCR", "Counting", "Reasoning", "Place", "Color", "Spatial", "Action", "Others")
VIDEO_CLASSES = ("Action(Y/N)", "Others", "Temporal")


def variant_frame(spec: SweepSpec, results: Path, uri: str | None = None) -> pd.DataFrame:
    """Latest run per variant of `spec` (only the variants the spec defines now), one row
    each: run_id, status, and `params.*`, `metrics.*`, `tags.*` columns as MLflow names them."""
    client = MlflowClient(uri or tracking_uri(results))
    experiment = client.get_experiment_by_name(spec.name)
    if experiment is None:
        return pd.DataFrame()
    rows, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.{ROLE} = 'variant' and tags.{SWEEP} = '{spec.name}'",
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        rows += [_row(run) for run in page]
        token = page.token
        if not token:
            break
    if not rows:
        return pd.DataFrame()
    runs = pd.DataFrame(rows)
    names = [v.name for v in spec.expand()]
    runs = runs[runs[f"tags.{VARIANT}"].isin(names)].drop_duplicates(f"tags.{VARIANT}")
    order = {name: i for i, name in enumerate(names)}
    return runs.sort_values(f"tags.{VARIANT}", key=lambda s: s.map(order)).reset_index(drop=True)


def _row(run: Run) -> dict:
    return {
        "run_id": run.info.run_id,
        "status": run.info.status,
        **{f"params.{k}": v for k, v in run.data.params.items()},
        **{f"metrics.{k}": v for k, v in run.data.metrics.items()},
        **{f"tags.{k}": v for k, v in run.data.tags.items()},
    }


def summary_table(spec: SweepSpec, runs: pd.DataFrame) -> pd.DataFrame:
    """Readable columns: variant, the swept settings, accuracies (%), delta, losses, params."""
    if runs.empty:
        return pd.DataFrame(columns=["variant"])
    table = pd.DataFrame({"variant": runs[f"tags.{VARIANT}"], "status": runs["status"]})
    for axis in spec.axes:
        column = f"params.{axis}"
        if column in runs:
            table[axis.removeprefix("model.")] = runs[column]
    for cls in IMAGE_CLASSES:  # the paper's Table 1 columns, where the world has the class
        if f"metrics.openvqa/{class_key(cls)}/acc" in runs:
            table[f"{cls} %"] = runs[f"metrics.openvqa/{class_key(cls)}/acc"]
    table["Overall %"] = runs.get("metrics.openvqa/overall")
    for cls in VIDEO_CLASSES:
        if f"metrics.openvqa_video/{class_key(cls)}/acc" in runs:
            table[f"video {cls} %"] = runs[f"metrics.openvqa_video/{class_key(cls)}/acc"]
    table["video Overall %"] = runs.get("metrics.openvqa_video/overall")
    table["MME perception"] = runs.get("metrics.mme/perception")
    for kind in ("one_word", "detailed"):
        table[f"follows '{kind}' %"] = runs.get(f"metrics.compliance/{kind}")
    if "metrics.owleval/score" in runs:  # people's ratings, once imported (A=4 … D=1)
        table["OwlEval score"] = runs["metrics.owleval/score"]
    if "tags.lynx_judge" in runs:  # which judge scored each row (rule-v1, gpt:<model>)
        table["judge"] = runs["tags.lynx_judge"]
    if spec.baseline is not None and spec.baseline in set(table["variant"]):
        base = table.loc[table["variant"] == spec.baseline, "Overall %"].iloc[0]
        table[f"Δ vs {spec.baseline}"] = table["Overall %"] - base
    table["stage2 loss"] = runs.get("metrics.stage2/final_loss")
    if "metrics.params/trainable" in runs:
        table["trainable params"] = runs["metrics.params/trainable"].astype("Int64")
    return table


HEADLINE = ("Overall %", "video Overall %", "MME perception", "follows 'detailed' %", "judge")


def headline(spec: SweepSpec, table: pd.DataFrame) -> pd.DataFrame:
    """The columns that fit a terminal: variant, swept settings, overall scores, delta."""
    settings = [a.removeprefix("model.") for a in spec.axes]
    wanted = ["variant", "status", *settings, *HEADLINE, *(c for c in table if c.startswith("Δ"))]
    return table[[c for c in wanted if c in table]]


def write_summary(spec: SweepSpec, table: pd.DataFrame, results: Path) -> tuple[Path, Path]:
    out = results / spec.name
    md, csv = out / "summary.md", out / "summary.csv"
    title = f"# {spec.name}: {spec.description}\n\n" if spec.description else f"# {spec.name}\n\n"
    note = (
        "\nOpen-VQA-style accuracy on held-out generated questions, judged as the 'judge' "
        "column says; from MLflow.\n"
    )
    write_text(md, title + table.to_markdown(index=False, floatfmt=".2f") + "\n" + note)
    write_text(csv, table.to_csv(index=False))
    return md, csv
