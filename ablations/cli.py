"""Command line: `python -m ablations <command>` (`--help` lists them); the Makefile wraps it.

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
from functools import partial
from pathlib import Path

from rich.console import Console

from ablations.data import add_data_command, cmd_data
from ablations.driver import (
    EXIT_BAD_SPEC,
    cmd_sweep,
    nothing_recorded,
    refuse,
    show_report,
    sweep_experiments,
)
from ablations.planning.cost import DEFAULT_GPU, DEFAULT_MFU, GPU_PEAK_BF16
from ablations.sweep.spec import SweepError, SweepSpec, load_sweep
from ablations.tracking.uri import has_store
from ablations.weights import add_weights_command, cmd_weights

SWEEPS_DIR = Path("sweeps")


def resolve_sweep(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    return SWEEPS_DIR / f"{name_or_path}.yaml"


def cmd_plan(spec: SweepSpec, args, console: Console) -> int:
    from rich.table import Table

    from ablations.execute.capacity import device_problems
    from ablations.planning.cost import gpu_hours_table, other_seeding
    from ablations.planning.plan import make_plan
    from ablations.planning.sources import print_sources
    from ablations.planning.store import Store
    from ablations.results.formatting import settings as variant_settings
    from ablations.tracking.recorded import recorded_variants
    from lynx_core.stages import STAGES

    results = Path(args.results)
    if spec.tune is not None and has_store(results):  # choices an earlier run made
        from ablations.tracking.recorded import chosen_spec

        spec = chosen_spec(spec, results)
    candidates = spec.tuning().expand() if spec.tune else []  # run first, on validation
    plan = make_plan(candidates + spec.expand(), spec.resources.gpus_by_stage())
    problems = device_problems(spec, plan.variants)
    if problems:
        return refuse(SweepError(spec.source, problems), console)
    store = Store(results / "store")
    done = recorded_variants(spec, results)
    console.print(
        f"[bold]{spec.experiment}[/bold] ({spec.source}): {len(plan.variants)} variants, "
        f"scale {spec.scale}, {spec.resources.describe()}"
    )
    variants = Table(title="variants (stage keys: equal keys are one shared run)")
    for column in ("variant", *STAGES, "MLflow", "settings"):
        variants.add_column(column)
    for variant in plan.variants:
        chain = plan.chains[variant.name]
        settings = variant_settings(variant)
        status = "recorded" if variant.name in done else "to run"
        variants.add_row(variant.name, *(chain[s][:8] for s in STAGES), status, settings)
    console.print(variants)

    stages = Table(title="stage runs")
    for column in ("stage", "unique", "naive", "stored", "to run"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    unique_total = naive_total = 0
    for stage, (unique, naive) in plan.counts().items():
        stored = sum(store.manifest(r.stage, r.key) is not None for r in plan.level(stage))
        stages.add_row(stage, str(unique), str(naive), str(stored), str(unique - stored))
        unique_total, naive_total = unique_total + unique, naive_total + naive
    console.print(stages)
    console.print(
        f"stage runs: {unique_total} unique of {naive_total} naive "
        f"(unique/naive ratio {unique_total / naive_total:.2f}); "
        f"variants: {len(plan.variants) - len(done)} to run, {len(done)} recorded in MLflow"
    )
    if spec.resources.any_gpus or args.gpu is not None:  # a CPU sweep's cost is not GPU-hours
        with console.status("estimating GPU-hours (each model built on the meta device)"):
            other = other_seeding(spec)
            hours = gpu_hours_table(plan, args.gpu or DEFAULT_GPU, args.mfu, spec.resources, other)
        console.print(hours)
    print_sources(plan.variants, console)
    return 0


def cmd_tables(spec: SweepSpec, args, console: Console) -> int:
    if nothing_recorded(spec, Path(args.results), console):
        return 1
    return 0 if show_report(spec, Path(args.results), console) else 1


def cmd_calibrate(spec: SweepSpec, args, console: Console) -> int:
    """How often this sweep's verdicts would err at the noise it measured: simulated studies
    through the findings' own code, written to `results/<sweep>/calibration.md`."""
    if nothing_recorded(spec, Path(args.results), console):
        return 1
    from ablations.execute.progress import print_table
    from ablations.results.calibration import (
        CALIBRATION_EFFECTS,
        calibrate,
        calibration_markdown,
        fitted_noise,
    )
    from ablations.results.study import Study
    from lynx_core.atomic import write_text

    study = Study.load(spec, Path(args.results))
    noise = fitted_noise(study)
    if not noise:
        console.print(
            f"no variant of {spec.experiment!r} has two seeds paired with the baseline yet: "
            "nothing to measure the noise from"
        )
        return 1
    with console.status(f"simulating {args.studies} studies per effect size"):
        rates = calibrate(study.spec, CALIBRATION_EFFECTS, args.studies, noise)
    path = Path(args.results) / spec.experiment / "calibration.md"
    write_text(path, calibration_markdown(spec.experiment, noise, rates, args.studies))
    # per effect the verdict that is its power: 'agrees' with the paper's direction (and the
    # false 'agrees' at 0), 'disagrees' against it
    said = rates.assign(power=rates["agrees"].where(rates["effect"] >= 0, rates["disagrees"]))
    shown = said.pivot(index="conclusion", columns="effect", values="power")
    shown = shown[rates["effect"].unique()]  # in CALIBRATION_EFFECTS' order, not sorted
    shown.columns = [f"{'agrees' if e >= 0 else 'disagrees'} at {e:g}" for e in shown.columns]
    shown.insert(0, "false disagrees at 0", rates[rates["effect"] == 0]["disagrees"].values)
    print_table(console, shown.reset_index(), f"{spec.experiment}: verdict rates ({path})")
    return 0


def cmd_owleval(spec: SweepSpec, args, console: Console) -> int:
    from ablations.execute.progress import print_table
    from ablations.results import owleval

    results = Path(args.results)
    if nothing_recorded(spec, results, console):
        return 1
    try:
        if args.action == "export":
            out = Path(args.out) if args.out else None
            written = owleval.export(spec, results, out, args.seed)
            console.print(
                f"rating sheets for {spec.experiment}:", *(f"  {p}" for p in written), sep="\n"
            )
            console.print(
                f"fill the rating column of {written[0].name} (A–D), then: "
                f"make owleval-import {spec.make_args} RATINGS=<filled csv>"
            )
            return 0
        if not args.ratings:
            console.print("error: owleval import needs --ratings <filled sheet.csv>", style="red")
            return EXIT_BAD_SPEC
        table = owleval.import_ratings_into_mlflow(
            spec, results, Path(args.ratings), Path(args.key) if args.key else None
        )
    except (owleval.OwlEvalError, ValueError) as err:
        console.print(f"error: {err}", style="red", highlight=False, markup=False)
        return 1
    print_table(console, table, f"{spec.experiment}: OwlEval ratings (logged to each run)")
    console.print(f"table: {results / spec.experiment / 'owleval_scores.md'}")
    return 0


def cmd_submit(spec: SweepSpec, args, console: Console) -> int:
    """Submit the sweep as a Ray job; its environment's values are never printed."""
    from ablations.execute.submit import missing_keys, private_file, runtime_env, submit_command

    configs = [v.config for v in spec.expand()]
    unset = missing_keys(configs, os.environ)
    if unset:
        console.print(
            f"error: the sweep is judged by GPT but {', '.join(unset)} is not set here; export "
            "it so the job can take it along (its value is passed by name, never printed)",
            style="red",
        )
        return EXIT_BAD_SPEC
    env = runtime_env(configs, Path.cwd(), Path(spec.source), os.environ)
    command_of = partial(
        submit_command, spec.source, address=args.address, results=args.results,
        head_python=args.head_python, scale=args.scale,
    )  # fmt: skip
    with private_file(env) as env_file:
        command = command_of(env_file)
        console.print(
            f"submitting {spec.experiment} to {args.address}: {' '.join(command)}", markup=False
        )
        console.print(
            f"  job environment (values not shown): {', '.join(sorted(env['env_vars']))}\n"
            f"  not uploaded: {', '.join(env['excludes'])}",
            markup=False,
            highlight=False,
        )
        return subprocess.call(command)


def cmd_ui(args, console: Console) -> int:
    """Print the link that opens each sweep in the store on its variants, then become a
    lean `mlflow ui` on the store (this process is replaced by it)."""
    from ablations.tracking.ui import server_command, variants_url
    from ablations.tracking.uri import tracking_uri

    results = Path(args.results)
    uri = tracking_uri(results)
    base = f"http://{args.host}:{args.port}/"
    console.print(f"MLflow UI for {uri} on {base}", highlight=False)
    for name, experiment in sweep_experiments(results):
        console.print(
            f"  {name}: {variants_url(experiment, base)}", highlight=False, soft_wrap=True
        )
    argv, env = server_command(uri, args.host, args.port)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)


def _injected_failure(text: str):
    from ablations.execute.run import InjectedFailure

    try:
        return InjectedFailure.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _count(least: int):
    """argparse type: an integer ≥ `least`, refused by argparse (exit 2) otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds ≥ 0, not {text}")
    return value


def _fraction(text: str) -> float:
    """argparse type: a number in (0, 1], e.g. a model FLOPs utilisation."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (0.4 is 40%), not {text}")
    return value


def _scale_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--scale",
        default=None,
        help="run the sweep file at this scale (toy, tiny, paper) instead of its own `scale:`; "
        "its `scales.<scale>` section applies",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ablations", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, text in (
        ("plan", "list the variants a sweep expands to, and which are recorded"),
        ("sweep", "train and evaluate every variant; record in MLflow"),
        ("tables", "rebuild the sweep's tables from MLflow"),
        ("calibrate", "how often the sweep's verdicts err at the noise it measured"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("sweep", help="sweep file or name (sweeps/<name>.yaml)")
        cmd.add_argument("--results", default="results", help="outputs and default MLflow store")
        _scale_argument(cmd)
    sub.choices["calibrate"].add_argument(
        "--studies", type=_count(10), default=1000, help="simulated studies per effect size"
    )
    plan = sub.choices["plan"]
    plan.add_argument(
        "--gpu",
        choices=sorted(GPU_PEAK_BF16),
        default=None,
        help="estimate GPU-hours on this GPU (its dense bf16 peak); default: on "
        f"{DEFAULT_GPU.upper()} for a sweep whose trials get GPUs, none for a CPU sweep",
    )
    plan.add_argument(
        "--mfu", type=_fraction, default=DEFAULT_MFU, help="share of the GPU's peak a run sustains"
    )
    sweep = sub.choices["sweep"]
    sweep.add_argument("--address", default=None, help="Ray cluster address (else RAY_ADDRESS)")
    sweep.add_argument(
        "--max-failures", type=_count(0), default=1, help="retries per crashed trial"
    )
    sweep.add_argument(
        "--resource-timeout",
        type=_seconds,
        default=600.0,
        help="on a cluster: seconds to wait for a node that can run a trial (an autoscaler "
        "adding one) before refusing the sweep",
    )
    sweep.add_argument(
        "--max-concurrent",
        type=_count(1),
        default=None,
        help="at most this many trials at once (default: as many as free resources allow)",
    )
    sweep.add_argument(
        "--fail-once-at",
        metavar="VARIANT:STAGE:STEP",
        type=_injected_failure,
        default=None,
        help="testing: make one trial raise once at that step, to exercise retry and resume",
    )
    owl = sub.add_parser("owleval", help="OwlEval rating sheets out, people's ratings back in")
    owl.add_argument("action", choices=["export", "import"])
    owl.add_argument("sweep", help="sweep file or name (sweeps/<name>.yaml)")
    owl.add_argument("--results", default="results", help="outputs and default MLflow store")
    _scale_argument(owl)
    owl.add_argument("--out", default=None, help="export: folder (default results/<sweep>/owleval)")
    owl.add_argument("--seed", type=int, default=0, help="export: seed of the slot shuffle")
    owl.add_argument("--ratings", default=None, help="import: the filled sheet.csv")
    owl.add_argument("--key", default=None, help="import: key.json (default: beside the sheet)")
    submit = sub.add_parser("submit", help="submit the sweep as a job to a Ray cluster")
    submit.add_argument("sweep", help="sweep file or name (sweeps/<name>.yaml)")
    submit.add_argument("--address", required=True, help="the cluster's dashboard address")
    _scale_argument(submit)
    submit.add_argument(
        "--results",
        default=str(Path("results").resolve()),
        help="results folder as the head sees it (a shared filesystem on a multi-node cluster)",
    )
    submit.add_argument(
        "--head-python",
        default=sys.executable,
        help="the project's interpreter on the head node (default: this one)",
    )
    add_data_command(sub)
    add_weights_command(sub)
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
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per download
    warnings.filterwarnings("ignore", category=FutureWarning)
    without_sweep = {"ui": cmd_ui, "data": cmd_data, "weights": cmd_weights}
    if args.command in without_sweep:
        return without_sweep[args.command](args, console)
    try:
        # a plan needs no weights: the paper sweep can be planned on a laptop
        spec = load_sweep(
            resolve_sweep(args.sweep), check_paths=args.command == "sweep", scale=args.scale
        )
    except SweepError as err:
        return refuse(err, console)
    commands = {
        "plan": cmd_plan,
        "sweep": cmd_sweep,
        "tables": cmd_tables,
        "calibrate": cmd_calibrate,
        "owleval": cmd_owleval,
        "submit": cmd_submit,
    }
    return commands[args.command](spec, args, console)
