"""Execute a sweep's plan on Ray Tune as a dependency graph, and record each variant in MLflow.

One Tune experiment; one trial per unique stage run that the store does not already hold,
handed out as its parent finishes (`ablations.execute.dag`), with the spec's per-trial resources, so
concurrency follows free resources; trial actors are reused between runs. `FailureConfig`
retries a crashed trial, which resumes from the checkpoint in its store folder. A failed run
fails only the variants whose chain contains it. Trials report with
`tune.report`; a driver-side callback forwards curves to MLflow and the terminal, so only the
driver writes to the tracking store. Ray starts only if something must run: a sweep whose
stages are all stored is recorded without it. Local Ray by default; `address` / `RAY_ADDRESS`
for a cluster.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import ray
from ray import tune

from ablations.execute.backends import ray_session
from ablations.execute.dag import StageGraphSearcher
from ablations.execute.progress import SweepProgress
from ablations.execute.trial import run_stage_trial, trial_resources
from ablations.planning.plan import Plan, StageRun
from ablations.planning.store import Store
from ablations.sweep.spec import SweepSpec
from ablations.sweep.variant import Variant
from ablations.tracking.track import SweepTracker
from lynx_core.stages import READS, STAGES, Stage

# a write the user can fix: no space, no quota, no permission, a read-only filesystem
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}
RESULT_FIELDS = ("stage", "step", "total_steps", "loss", "lr", "samples_per_s")


@dataclass(frozen=True)
class InjectedFailure:
    """Make a variant's stage raise at a step on its first attempt (to exercise retry/resume)."""

    variant: str
    stage: str
    step: int

    @classmethod
    def parse(cls, text: str) -> InjectedFailure:
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[2].isdigit():
            raise ValueError(f"expected VARIANT:STAGE:STEP (e.g. prefix:stage2:10), got {text!r}")
        return cls(parts[0], parts[1], int(parts[2]))

    def target(self, plan: Plan) -> tuple[str, int] | None:
        """(run id, step) in this plan, or None when the variant is not being run."""
        if self.variant not in plan.chains or self.stage not in STAGES:
            return None
        return plan.run_of(self.variant, self.stage).id, self.step  # type: ignore[arg-type]


class TrackingCallback(tune.Callback):
    """Driver side: a stage run's curve → every variant sharing it; a finished eval → its record.

    A variant is recorded in MLflow as soon as its eval run is done, not at the end of the sweep.
    A write to MLflow that fails (a full disk under its store) is kept, not raised: Tune would
    blame the trial for it; the driver raises it once Tune has stopped (`error`).
    """

    error: Exception | None = None  # the first failed MLflow write; later ones are not tried

    def __init__(
        self,
        plan: Plan,
        tracker: SweepTracker,
        progress: SweepProgress,
        record_variant: Callable[[str], None],
    ):
        self.plan = plan
        self.tracker = tracker
        self.progress = progress
        self.record_variant = record_variant

    def __getstate__(self) -> dict:
        # Tuner pickles its callbacks for `Tuner.restore`; the live MLflow client and terminal
        # cannot travel, and need not: resuming a sweep re-reads the store and MLflow.
        return {"plan": None, "tracker": None, "progress": None, "record_variant": None}

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        run_id = trial.config["run"]
        self.progress.run_started(run_id, self.plan.users(run_id))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if result.get("kind") != "steps":
            return
        records = [{k: r[k] for k in RESULT_FIELDS} for r in result["records"]]
        last = records[-1]
        for name in self.plan.users(trial.config["run"]):
            self._tracking(self.tracker.log_records, name, records)
            self.progress.step(name, last["stage"], int(last["step"]), last["loss"])

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        run_id = trial.config["run"]
        if run_id.startswith("eval/"):
            for name in self.plan.users(run_id):
                self._tracking(self.record_variant, name)

    def _tracking(self, write: Callable[..., None], *args) -> None:
        if self.error is not None:
            return
        try:
            write(*args)
        except Exception as err:  # noqa: BLE001 (any failure of the store: raised after Tune)
            self.error = err


@dataclass
class SweepOutcome:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)  # stage runs computed now
    reused: list[str] = field(default_factory=list)  # stage runs found in the store


def run_graph(
    runs: list[StageRun],
    done: set[str],
    spec: SweepSpec,
    store: Store,
    callback: TrackingCallback,
    ray_dir: Path,
    max_failures: int,
    fail_at: tuple[str, int] | None,
    max_concurrent: int | None = None,
) -> dict[str, str]:
    """One Tune experiment over the runs to compute; returns failed run id → its error and
    the path of its log."""
    # MLflow is the record; Tune's own CSV/JSON/TensorBoard loggers would only add noise
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # a sweep's relative paths (weights/…, data/…) are the driver's working directory's, as
    # the validator checked them: Tune would move each trial into its own folder first
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # the classic reporter honours verbose=0; the new one prints a box per experiment (level)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # ...so the result grid has no result files to read back; it would warn once per trial
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    by_id = {run.id: run for run in runs}
    trainable = tune.with_parameters(
        run_stage_trial,
        runs=by_id,
        store_root=str(store.root.resolve()),
        resources=spec.resources,
        train_storage=str((ray_dir / "train").resolve()),
        fail_at=fail_at,
    )
    # with a custom searcher Tune starts one trial actor at a time; let it start one per ready run
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", str(max(len(runs), 1)))
    tuner = tune.Tuner(
        tune.with_resources(trainable, trial_resources(spec.resources, by_id)),
        tune_config=tune.TuneConfig(
            search_alg=StageGraphSearcher(runs, already_done=done),
            num_samples=len(runs),
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=spec.experiment,
            storage_path=str(ray_dir.resolve()),
            callbacks=[callback],
            failure_config=tune.FailureConfig(max_failures=max_failures),
            verbose=0,
        ),
    )
    failed = [result for result in tuner.fit() if result.error is not None]
    return {
        r.config["run"]: f"{error_summary(r.error)}; log: {Path(r.path) / 'error.txt'}"
        for r in failed
    }


def error_summary(error: BaseException, limit: int = 600) -> str:
    """The trial's own exception as 'Type: message', unwrapped from Ray's and Tune's
    wrappers (whose text is a traceback); the full traceback stays in the trial's log."""
    while getattr(error, "cause", None) is not None and error.cause is not error:
        error = error.cause  # RayTaskError → the exception the trial raised
    message = str(error).strip()
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    text = text if len(text) <= limit else f"{text[:limit]}…"
    if isinstance(error, OSError) and error.errno in WRITE_ERRORS:
        text += " (free space or fix the permission, then run the same command again)"
    return text


def first_failure(chain: dict[Stage, str], failed: dict[str, str]) -> str | None:
    for stage, key in chain.items():
        if f"{stage}/{key}" in failed:
            return f"{stage} failed: {failed[f'{stage}/{key}']}"
    return None


def unfinished(chain: dict[Stage, str], store: Store) -> str | None:
    for stage, key in chain.items():
        if store.manifest(stage, key) is None:
            return f"{stage} did not finish: no manifest in {store.folder(stage, key)}"
    return None


def stored_runs(plan: Plan, store: Store, warn: Callable[[str], None]) -> set[str]:
    """Ids of the plan's runs the store holds, once the outputs that runs still to compute
    will load are checked against their checksums: a damaged run is rejected (and so
    computed again, its own inputs checked in turn); its finished descendants stay valid."""
    stored = {r.id for r in plan.runs.values() if store.manifest(r.stage, r.key) is not None}
    checked: set[str] = set()
    while (
        needed := {
            f"{stage}/{run.chain[stage]}"
            for run in plan.runs.values()
            if run.id not in stored
            for stage in READS[run.stage]
        }
        & stored - checked
    ):
        for run_id in sorted(needed):
            checked.add(run_id)
            stage, key = plan.runs[run_id].stage, plan.runs[run_id].key
            problem = store.damaged(stage, key)
            if problem is not None:
                store.reject(stage, key, problem)
                stored.discard(run_id)
                warn(f"{problem}: computing {run_id} again")
    return stored


def run_sweep(
    spec: SweepSpec,
    whole: Plan,
    results: Path,
    tracker: SweepTracker,
    progress: SweepProgress,
    address: str | None = None,
    max_failures: int = 1,
    failure: InjectedFailure | None = None,
    max_concurrent: int | None = None,
    roles: Mapping[str, str] | None = None,
    ahead: list[StageRun] = (),
) -> SweepOutcome:
    """Run every variant of the sweep's plan not already finished in MLflow; returns what
    ran, skipped, failed (`roles`: the MLflow role of a variant that is not 'variant', e.g.
    a tuning candidate's). `ahead`: parentless stage runs a later plan will need (the bases
    of variants waiting on a choice), computed beside these on cores they leave idle."""
    outcome = SweepOutcome()
    todo: list[Variant] = []
    for variant in whole.variants:
        role = (roles or {}).get(variant.name, "variant")
        _, done = tracker.variant_run(variant, whole.chains[variant.name], role)
        if done:
            outcome.skipped.append(variant.name)
            progress.skipped(variant.name)
        else:
            todo.append(variant)
    if not todo and not ahead:
        return outcome

    plan = whole.only({variant.name for variant in todo})
    store = Store(results / "store")
    tracker.log_plan(plan)
    for variant in todo:
        tracker.started(variant.name)
    fail_at = failure.target(plan) if failure is not None else None

    def record_variant(name: str) -> None:
        chain = plan.chains[name]
        manifests = [store.manifest(stage, key) for stage, key in chain.items()]
        metrics = tracker.record(name, manifests, store.folder("eval", chain["eval"]))
        progress.finished(name, metrics.get("openvqa/overall", float("nan")))
        outcome.ran.append(name)

    stored = stored_runs(plan, store, progress.warn)
    pending = [run for run in plan.runs.values() if run.id not in stored]
    pending += [
        run
        for run in ahead
        if run.id not in plan.runs and store.manifest(run.stage, run.key) is None
    ]
    for run_id in stored:
        progress.stage_reused(plan.users(run_id), plan.runs[run_id].stage)
    outcome.executed = [run.id for run in pending]
    outcome.reused = sorted(stored)
    failed: dict[str, str] = {}  # run id → where its error is
    if pending:
        callback = TrackingCallback(plan, tracker, progress, record_variant)
        with nullcontext() if ray.is_initialized() else ray_session(address):
            failed = run_graph(
                pending,
                stored,
                spec,
                store,
                callback,
                results / "ray",
                max_failures,
                fail_at,
                max_concurrent,
            )
        if callback.error is not None:
            raise callback.error

    for variant in todo:  # failed ones, and those whose every stage was already stored
        if variant.name in outcome.ran:
            continue
        reason = first_failure(plan.chains[variant.name], failed) or unfinished(
            plan.chains[variant.name], store
        )
        if reason is None:
            record_variant(variant.name)
        else:
            tracker.fail(variant.name, reason)
            progress.failed(variant.name, reason)
            outcome.failed[variant.name] = reason
    return outcome
