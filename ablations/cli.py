"""Command line: `python -m ablations {plan,sweep,tables,ui} <sweep>`; the Makefile wraps it.

A sweep is named by its file (`sweeps/arch.yaml`) or its name (`arch`). Every command
validates the sweep first and exits with status 2 on a bad file, before Ray or MLflow start.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

from rich.console import Console

from ablations.spec import SweepError, SweepSpec, load_sweep

SWEEPS_DIR = Path("sweeps")
EXIT_BAD_SPEC, EXIT_FAILED_VARIANTS = 2, 1


def resolve_sweep(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    return SWEEPS_DIR / f"{name_or_path}.yaml"


def cmd_plan(spec: SweepSpec, args, console: Console) -> int:
    variants = spec.expand()
    console.print(
        f"[bold]{spec.name}[/bold] ({spec.source}): {len(variants)} variants, "
        f"scale {spec.scale}, {spec.resources.cpus:g} cpu / {spec.resources.gpus:g} gpu "
        "per trial"
    )
    for variant in variants:
        settings = ", ".join(f"{k}={v}" for k, v in variant.overrides.items()) or "(base)"
        console.print(f"  {variant.name:<32} {variant.key}  {settings}")
    return 0


def cmd_sweep(spec: SweepSpec, args, console: Console) -> int:
    from ablations.progress import SweepProgress, print_table
    from ablations.run import run_sweep
    from ablations.tables import summary_table, variant_frame, write_summary
    from ablations.track import SweepTracker, tracking_uri

    variants = spec.expand()
    results = Path(args.results)
    console.print(
        f"[bold]{spec.name}[/bold]: {len(variants)} variants on "
        f"{args.address or os.environ.get('RAY_ADDRESS') or 'local Ray'}; "
        f"tracking {tracking_uri(results)}"
    )
    tracker = SweepTracker(spec, results)
    with SweepProgress(variants, console) as progress:
        outcome = run_sweep(
            spec,
            variants,
            results,
            tracker,
            progress,
            address=args.address,
            max_failures=args.max_failures,
        )
    tracker.close("FAILED" if outcome.failed else "FINISHED")
    table = summary_table(spec, variant_frame(spec, results))
    md, csv = write_summary(spec, table, results)
    print_table(console, table, f"{spec.name}: Open-VQA-style accuracy (held-out, rule judge)")
    if outcome.skipped:
        console.print(f"recorded earlier, not rerun: {', '.join(outcome.skipped)}")
    for name, where in outcome.failed.items():
        console.print(f"[red]failed[/red] {name}: {where}")
    console.print(f"table:  {md}\n        {csv}\nMLflow: {tracking_uri(results)}\nbrowse: make ui")
    return EXIT_FAILED_VARIANTS if outcome.failed else 0


def cmd_tables(spec: SweepSpec, args, console: Console) -> int:
    from ablations.progress import print_table
    from ablations.tables import summary_table, variant_frame, write_summary

    results = Path(args.results)
    table = summary_table(spec, variant_frame(spec, results))
    if table.empty:
        console.print(f"no runs of {spec.name!r} in MLflow yet; run: make sweep NAME={spec.name}")
        return 1
    md, csv = write_summary(spec, table, results)
    print_table(console, table, spec.name)
    console.print(f"table: {md}\n       {csv}")
    return 0


def cmd_ui(args, console: Console) -> int:
    from ablations.track import tracking_uri

    uri = tracking_uri(Path(args.results))
    console.print(f"MLflow UI for {uri} on http://{args.host}:{args.port}")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    return subprocess.call(command)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ablations", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, text in (
        ("plan", "list the variants a sweep expands to"),
        ("sweep", "train and evaluate every variant; record in MLflow"),
        ("tables", "rebuild the sweep's tables from MLflow"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("sweep", help="sweep file or name (sweeps/<name>.yaml)")
        cmd.add_argument("--results", default="results", help="outputs and default MLflow store")
    sweep = sub.choices["sweep"]
    sweep.add_argument("--address", default=None, help="Ray cluster address (else RAY_ADDRESS)")
    sweep.add_argument("--max-failures", type=int, default=1, help="retries per crashed trial")
    ui = sub.add_parser("ui", help="MLflow UI on the results store")
    ui.add_argument("--results", default="results")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the results table
        console = Console(width=200)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.command == "ui":
        return cmd_ui(args, console)
    try:
        spec = load_sweep(resolve_sweep(args.sweep))
    except SweepError as err:
        console.print(f"error: {err}", style="red", highlight=False, markup=False)
        return EXIT_BAD_SPEC
    commands = {"plan": cmd_plan, "sweep": cmd_sweep, "tables": cmd_tables}
    return commands[args.command](spec, args, console)
