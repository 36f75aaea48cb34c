"""Tables from MLflow only (never retraining): one row per variant of a sweep.

Reads the sweep's variant runs into pandas and writes `results/<sweep>/summary.md` and `.csv`:
Open-VQA accuracy per class and overall, the delta against the sweep's baseline, final losses
and trainable parameters. Paper-style tables and plots build on this frame.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from ablations.spec import SweepSpec
from ablations.track import ROLE, SWEEP, VARIANT, tracking_uri
from lynx_core.atomic import write_text

CLASSES = ("Color", "Counting", "Others")


def variant_frame(spec: SweepSpec, results: Path, uri: str | None = None) -> pd.DataFrame:
    """Latest run per variant of `spec` (only the variants the spec defines now)."""
    mlflow.set_tracking_uri(uri or tracking_uri(results))
    experiment = mlflow.get_experiment_by_name(spec.name)
    if experiment is None:
        return pd.DataFrame()
    runs = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.{ROLE} = 'variant' and tags.{SWEEP} = '{spec.name}'",
        order_by=["attributes.start_time DESC"],
    )
    if runs.empty:
        return runs
    names = [v.name for v in spec.expand()]
    runs = runs[runs[f"tags.{VARIANT}"].isin(names)].drop_duplicates(f"tags.{VARIANT}")
    order = {name: i for i, name in enumerate(names)}
    return runs.sort_values(f"tags.{VARIANT}", key=lambda s: s.map(order)).reset_index(drop=True)


def summary_table(spec: SweepSpec, runs: pd.DataFrame) -> pd.DataFrame:
    """Readable columns: variant, the swept settings, accuracies (%), delta, losses, params."""
    if runs.empty:
        return pd.DataFrame(columns=["variant"])
    table = pd.DataFrame({"variant": runs[f"tags.{VARIANT}"], "status": runs["status"]})
    for axis in spec.axes:
        column = f"params.{axis}"
        if column in runs:
            table[axis.removeprefix("model.")] = runs[column]
    for cls in CLASSES:
        table[f"{cls} %"] = runs.get(f"metrics.openvqa/{cls}/acc")
    table["Overall %"] = runs.get("metrics.openvqa/overall")
    if "tags.lynx_judge" in runs:  # which judge scored each row (rule-v1, gpt:<model>)
        table["judge"] = runs["tags.lynx_judge"]
    if spec.baseline is not None and spec.baseline in set(table["variant"]):
        base = table.loc[table["variant"] == spec.baseline, "Overall %"].iloc[0]
        table[f"Δ vs {spec.baseline}"] = table["Overall %"] - base
    table["stage2 loss"] = runs.get("metrics.stage2/final_loss")
    table["trainable params"] = runs.get("metrics.params/trainable").astype("Int64")
    return table


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
