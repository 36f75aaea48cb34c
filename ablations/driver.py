"""The sweep command's driver: the plan computed once, the sweep's lock taken, Ray started
beside the MLflow tracker, tuning's candidates run and chosen, the variants run, the report
built and said. Also the report (`show_report`, `make tables` too) and the message for a
results folder with nothing recorded yet."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from rich.console import Console

from ablations.sweep.spec import SweepError, SweepSpec
from ablations.tracking.uri import has_store

EXIT_BAD_SPEC, EXIT_FAILED_VARIANTS = 2, 1


def nothing_recorded(spec: SweepSpec, results: Path, console: Console) -> bool:
    """Whether there is no store to read (said, with the command that fills it)."""
    if has_store(results):
        return False
    console.print(
        f"no MLflow store under {results}: nothing recorded yet; run: make sweep {spec.make_args}",
        highlight=False,
    )
    return True


def needs_compute(plan, results: Path) -> bool:
    """Whether some stage run of the plan is not in the store (so Ray will be needed)."""
    from ablations.planning.store import Store

    store = Store(results / "store")
    return any(store.manifest(r.stage, r.key) is None for r in plan.runs.values())


def open_driver(spec: SweepSpec, results: Path):
    """The sweep driver's tracker, with the modules the driver runs on imported.

    Called off the main thread while that one starts Ray: Tune and MLflow take seconds to
    import and the MLflow store seconds to create or migrate, so they overlap. The report's
    modules (pandas, matplotlib, scipy) wait for the end: importing them here too made the
    driver, not Ray, the last to be ready (1.5 s later on 2 cores).
    """
    import ablations.execute.run  # noqa: F401  (imported for its import time: Tune's)
    from ablations.tracking.track import SweepTracker

    return SweepTracker(spec, results)


def refuse(err: SweepError, console: Console) -> int:
    console.print(f"error: {err}", style="red", highlight=False, markup=False)
    return EXIT_BAD_SPEC


def cmd_sweep(spec: SweepSpec, args, console: Console) -> int:
    from ablations.execute.backends import ray_address
    from ablations.execute.capacity import device_problems, fit_problems, local_node
    from ablations.planning.locks import exclusive
    from ablations.planning.plan import make_plan
    from ablations.tracking.uri import tracking_uri

    results = Path(args.results)
    if spec.tune is not None and has_store(results):  # choices an earlier run made
        from ablations.tracking.recorded import chosen_spec

        spec = chosen_spec(spec, results)
    variants = spec.expand()
    plan = make_plan(variants, spec.resources.gpus_by_stage())  # once: data files are walked once
    tuning = (
        make_plan(spec.tuning().expand(), spec.resources.gpus_by_stage()) if spec.tune else None
    )
    remote = ray_address(args.address)
    problems = device_problems(spec, variants + (tuning.variants if tuning else []))
    compute = needs_compute(plan, results) or (
        tuning is not None and needs_compute(tuning, results)
    )
    if not remote and compute:  # a local cluster's size is known now
        node = local_node(count_gpus=spec.resources.any_gpus)
        problems += fit_problems(spec, [node], "this machine (local Ray)")
    if problems:
        return refuse(SweepError(spec.source, problems), console)

    def waiting(holder: str) -> None:
        console.print(
            f"[yellow]waiting[/yellow]: {spec.experiment} is being run on {results} by "
            f"{holder}; this one continues when it ends (and reruns only what it left)",
            highlight=False,
        )

    from mlflow.exceptions import MlflowException  # imported once the sweep is accepted

    try:
        with exclusive(results / ".locks" / f"sweep-{spec.experiment}.lock", waiting):
            return run_locked(spec, plan, tuning, results, args, console)
    except (OSError, MlflowException) as err:  # a full disk, a refused permission, ...
        where = getattr(err, "filename", None) or tracking_uri(results)
        reason = getattr(err, "strerror", None) or str(err)
        console.print(
            f"error: could not write {where}: {reason}. Finished stage runs stay in "
            f"{results / 'store'} and recorded runs in MLflow; free space (or fix the "
            "permission) and run the same command again: it continues from there",
            style="red", highlight=False, markup=False,
        )  # fmt: skip
        return EXIT_FAILED_VARIANTS


def run_locked(spec: SweepSpec, plan, tuning, results: Path, args, console: Console) -> int:
    """The sweep, once no other process runs it on this results folder: its tuning
    candidates first, if it tunes (`tuning`: their plan), then its variants."""
    from ablations.execute.backends import ray_address, ray_session
    from ablations.execute.capacity import cluster_nodes, wait_for_fit
    from ablations.planning.plan import make_plan
    from ablations.tracking.uri import tracking_uri

    remote = ray_address(args.address)
    compute = needs_compute(plan, results)  # again: a sweep we waited for may have done it
    compute = compute or (tuning is not None and needs_compute(tuning, results))
    ray_log = results / "ray" / "driver.log"
    console.print(
        f"[bold]{spec.experiment}[/bold]: {len(plan.variants)} variants on "
        f"{remote or 'local Ray'}; tracking {tracking_uri(results)}"
    )
    with ExitStack() as stack:
        if compute and remote:  # asked once joined, before any MLflow run exists
            stack.enter_context(ray_session(args.address, ray_log))
            problems = wait_for_fit(
                spec, cluster_nodes, f"the cluster at {remote}", args.resource_timeout,
                lambda text: console.print(f"[yellow]{text}[/yellow]", highlight=False),
            )  # fmt: skip
            if problems:
                return refuse(SweepError(spec.source, problems), console)
        pool = stack.enter_context(ThreadPoolExecutor(1))
        opening = pool.submit(open_driver, spec, results)
        if compute and not remote:
            stack.enter_context(ray_session(args.address, ray_log))  # this thread: ray_session
        tracker = opening.result()
        from ablations.execute.progress import SweepProgress
        from ablations.execute.run import run_sweep

        run = partial(
            run_sweep,
            results=results,
            tracker=tracker,
            address=args.address,
            max_failures=args.max_failures,
            failure=args.fail_once_at,
            max_concurrent=args.max_concurrent,
        )
        if tuning is not None:
            console.print(
                f"tuning {', '.join(spec.tune.variants)}: {len(spec.tune.candidates)} "
                f"candidates of {', '.join(spec.tuned_fields)} each, by {spec.tune.metric} on "
                "the validation split (the variants and bases no choice changes run meanwhile)"
            )
            untouched = [v for v in plan.variants if not spec.waits_on_choice(v.group)]
            first = make_plan(tuning.variants + untouched, spec.resources.gpus_by_stage())
            roles = {v.name: "tuning" for v in tuning.variants}
            ahead = plan.level("bases")  # the bases wait on no choice
            with SweepProgress(first.variants, console) as progress:
                tuned = run(spec, first, progress=progress, roles=roles, ahead=ahead)
            for name, where in tuned.failed.items():  # a candidate that failed lost
                if name in roles:
                    console.print(f"[yellow]failed, not chosen[/yellow] {name}: {where}")
            spec, plan = choose_and_plan(spec, results, tracker, console)
            undecided = sorted(set(spec.tune.variants) - set(spec.choices))
            if undecided:
                tracker.close("FAILED")
                console.print(
                    f"[red]tuning failed[/red]: {', '.join(undecided)} could not choose (no "
                    "candidate trained); rerun the same command to retry them"
                )
                return EXIT_FAILED_VARIANTS
        with SweepProgress(plan.variants, console) as progress:
            outcome = run(spec, plan, progress=progress)
    tracker.close("FAILED" if outcome.failed else "FINISHED")
    if outcome.skipped:
        console.print(f"recorded earlier, not rerun: {', '.join(outcome.skipped)}")
    phases = [outcome, tuned] if tuning is not None else [outcome]
    executed = {run for phase in phases for run in phase.executed}
    reused = {run for phase in phases for run in phase.reused}
    if executed or reused:  # both phases: a stage the candidates computed is not 'reused'
        console.print(
            f"stage runs: {len(executed)} computed, "
            f"{len(reused - executed)} reused from {results / 'store'}"
        )
    for name, where in outcome.failed.items():
        console.print(f"[red]failed[/red] {name}: {where}")
    try:  # a finished sweep stays finished, whatever its report does
        show_report(spec, results, console)
    except Exception as err:  # the runs are in MLflow already; the report can wait
        console.print(
            f"[red]the report failed[/red]: {type(err).__name__}: {err}; the runs are recorded, "
            f"rebuild it with: make tables {spec.make_args}",
            highlight=False,
        )
    uri = tracking_uri(results)
    browse = "make ui" if uri.startswith("sqlite:") else uri  # a server has its own UI
    console.print(f"MLflow: {uri}\nbrowse: {browse}")
    return EXIT_FAILED_VARIANTS if outcome.failed else 0


def choose_and_plan(spec: SweepSpec, results: Path, tracker, console: Console):
    """The tuned variants' choices from their candidates' validation scores: recorded in
    MLflow (the sweep run's tag and metrics), said, and the plan of the sweep with them."""
    from ablations.planning.plan import make_plan
    from ablations.sweep.tuning import CHOICES, at_edge, choices, describe
    from ablations.tracking.recorded import tuning_scores

    scores = tuning_scores(spec, results)
    chosen = choices(scores, spec)
    metric = spec.tune.metric
    logged = {f"tuning/{r.variant}/{r.candidate}/{metric}": r.score for r in scores.itertuples()}
    tracker.log_choices(CHOICES, describe(chosen), logged)
    for variant, values in chosen.items():
        console.print(
            f"  {variant} chose {', '.join(f'{k}={v}' for k, v in values.items())}", highlight=False
        )
    for edge in at_edge(chosen, spec):
        console.print(f"  [yellow]at the grid's edge[/yellow]: {edge}", highlight=False)
    tuned = spec.with_choices(chosen)
    return tuned, make_plan(tuned.expand(), tuned.resources.gpus_by_stage())


def show_report(spec: SweepSpec, results: Path, console: Console) -> bool:
    """Build the sweep's tables, plots and findings from MLflow and say where they are."""
    started = time.perf_counter()  # the report's time includes importing what it runs on
    from ablations.execute.progress import print_table
    from ablations.results.report import build_report, headline
    from ablations.results.report_page import PAGE

    report = build_report(spec, results)
    if report.study.runs.empty:
        console.print(
            f"no finished runs of {spec.experiment!r} in MLflow yet; run: "
            f"make sweep {spec.make_args}"
        )
        return False
    print_table(console, headline(report.study), f"{spec.experiment}: held-out scores")
    verdicts = "; ".join(f"{f.number} {f.verdict}" for f in report.findings)
    console.print(f"the paper's conclusions here: {verdicts} (findings.md)")
    logged = f"; logged to MLflow run {report.logged_to}" if report.logged_to else ""
    console.print(
        f"tables, plots, findings: {report.folder}/README.md ({len(report.files)} files in "
        f"{time.perf_counter() - started:.1f} s{logged})",
        markup=False,
        highlight=False,
    )
    console.print(f"the report on one page: {report.folder / PAGE}", markup=False, highlight=False)
    return True


def sweep_experiments(results: Path) -> list[tuple[str, str]]:
    """(name, experiment id) of every sweep recorded in the store (none without a store)."""
    if not has_store(results):
        return []
    from mlflow.tracking import MlflowClient

    from ablations.tracking.uri import tracking_uri

    experiments = MlflowClient(tracking_uri(results)).search_experiments()
    return [(e.name, e.experiment_id) for e in experiments if e.name != "Default"]
