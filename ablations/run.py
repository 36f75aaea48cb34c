"""Execute a sweep's variants as Ray Tune trials and record them through the tracker.

One trial per variant, with the spec's per-trial resources; Ray's `FailureConfig` retries a
crashed trial; a failing variant does not stop the others. Local Ray by default, a cluster via
`address` / `RAY_ADDRESS`. Trials report progress with `tune.report`; a driver-side callback
forwards it to MLflow and the terminal, so trials never write to the tracking store.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from ablations.progress import SweepProgress
from ablations.spec import SweepSpec, Variant
from ablations.track import SweepTracker
from lynx_core.config import VariantConfig
from lynx_core.train.bases import bases_key, ensure_bases

log = logging.getLogger(__name__)


def variant_dir(results: Path, variant: Variant) -> Path:
    return results / "store" / "variants" / f"{variant.name}-{variant.key}"


@dataclass(frozen=True)
class InjectedFailure:
    """Make one variant's trial raise once at a stage's step (to exercise retry and resume)."""

    variant: str
    stage: str
    step: int

    @classmethod
    def parse(cls, text: str) -> InjectedFailure:
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[2].isdigit():
            raise ValueError(f"expected VARIANT:STAGE:STEP (e.g. prefix:stage2:10), got {text!r}")
        return cls(parts[0], parts[1], int(parts[2]))

    def check(self, variant: str, result: dict[str, Any], workdir: Path) -> None:
        marker = workdir / ".injected-failure"
        hit = (variant, result["stage"], result["step"]) == (self.variant, self.stage, self.step)
        if hit and not marker.exists():
            marker.touch()
            raise RuntimeError(f"injected failure: {variant} at {self.stage} step {self.step}")


def run_trial(
    config: dict[str, Any],
    *,
    variants: dict[str, VariantConfig],
    dirs: dict[str, str],
    bases_root: str,
    threads: int,
    failure: InjectedFailure | None = None,
) -> None:
    """Ray Tune function trainable: train and evaluate one variant, reporting as it goes.

    A retried trial calls this again; the variant's stage checkpoints make it continue.
    """
    import torch

    from lynx_core.pipeline import run_variant

    torch.set_num_threads(threads)
    name = config["variant"]
    workdir = Path(dirs[name])

    def report(result: dict[str, Any]) -> None:
        tune.report({"kind": "step", **result})
        if failure is not None:
            failure.check(name, result, workdir)

    metrics = run_variant(variants[name], workdir, Path(bases_root), on_log=report)
    tune.report({"kind": "final", **metrics})


def _prepare_bases(config: VariantConfig, root: str, threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    ensure_bases(config, Path(root))
    return bases_key(config)


def prepare_bases(
    todo: list[Variant], root: Path, spec: SweepSpec, progress: SweepProgress
) -> None:
    """Train each distinct toy base once, in parallel, before the variants that share it."""
    missing = {
        bases_key(v.config): v.config
        for v in todo
        if v.config.model.llm.path is None and not (root / bases_key(v.config)).exists()
    }
    if not missing:
        return
    progress.console.print(f"preparing shared bases (toy LLM pretraining): {', '.join(missing)}")
    task = ray.remote(_prepare_bases).options(
        num_cpus=spec.resources.cpus, num_gpus=spec.resources.gpus, max_retries=1
    )
    threads = max(int(spec.resources.cpus), 1)
    ray.get([task.remote(config, str(root), threads) for config in missing.values()])


class TrackingCallback(tune.Callback):
    """Driver side: trial events → MLflow runs and progress bars."""

    def __init__(self, tracker: SweepTracker, progress: SweepProgress, dirs: dict[str, str]):
        self.tracker = tracker
        self.progress = progress
        self.dirs = dirs
        self.finals: dict[str, dict[str, float]] = {}

    def __getstate__(self) -> dict:
        # Tuner pickles its callbacks for `Tuner.restore`; the live MLflow client and terminal
        # cannot travel, and need not: resuming a sweep re-reads MLflow, not Tune's state.
        return {"dirs": self.dirs, "finals": self.finals, "tracker": None, "progress": None}

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        name = trial.config["variant"]
        self.tracker.started(name)
        self.progress.started(name)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        name = trial.config["variant"]
        if result.get("kind") == "step":
            self.tracker.log_step(name, result)
            self.progress.step(name, result["stage"], int(result["step"]), result["loss"])
        elif result.get("kind") == "final":
            skip = {
                "kind",
                "done",
                "trial_id",
                "experiment_tag",
                "date",
                "hostname",
                "node_ip",
                "pid",
                "config",
                "timestamp",
                "training_iteration",
                "iterations_since_restore",
                "time_this_iter_s",
                "time_total_s",
                "time_since_restore",
                "checkpoint_dir_name",
                "should_checkpoint",
            }
            self.finals[name] = {
                k: float(v)
                for k, v in result.items()
                if k not in skip and isinstance(v, int | float)
            }

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        name = trial.config["variant"]
        metrics = self.finals.get(name)
        if metrics is None:
            self.tracker.fail(name, "trial ended without final metrics")
            self.progress.failed(name, trial.local_path or "ray logs")
            return
        self.tracker.finish(name, metrics, Path(self.dirs[name]))
        self.progress.finished(name, metrics.get("openvqa/overall", float("nan")))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        name = trial.config["variant"]
        where = str(Path(trial.local_path) / "error.txt") if trial.local_path else "ray logs"
        self.tracker.fail(name, f"trial failed; log: {where}")
        self.progress.failed(name, where)


@dataclass
class SweepOutcome:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def start_ray(address: str | None) -> bool:
    """Connect to `address` / `RAY_ADDRESS`, else start a local Ray; True when local."""
    # MLflow is the record; Tune's own CSV/JSON/TensorBoard loggers would only add noise
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # ...so the result grid has no result files to read back; it would warn once per trial
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS")
    local = address is None
    ray.init(
        address=address,
        num_cpus=os.cpu_count() if local else None,
        include_dashboard=False if local else None,
        log_to_driver=False,
        logging_level=logging.WARNING,
        ignore_reinit_error=True,
    )
    return local


def run_sweep(
    spec: SweepSpec,
    variants: list[Variant],
    results: Path,
    tracker: SweepTracker,
    progress: SweepProgress,
    address: str | None = None,
    max_failures: int = 1,
    failure: InjectedFailure | None = None,
) -> SweepOutcome:
    """Run every variant not already finished in MLflow; returns what ran, skipped, failed."""
    outcome = SweepOutcome()
    todo: list[Variant] = []
    for variant in variants:
        _, done = tracker.variant_run(variant)
        if done:
            outcome.skipped.append(variant.name)
            progress.skipped(variant.name)
        else:
            todo.append(variant)
    if not todo:
        return outcome

    dirs = {v.name: str(variant_dir(results, v).resolve()) for v in todo}
    bases_root = (results / "store" / "bases").resolve()
    trainable = tune.with_parameters(
        run_trial,
        variants={v.name: v.config for v in todo},
        dirs=dirs,
        bases_root=str(bases_root),
        threads=max(int(spec.resources.cpus), 1),
        failure=failure,
    )
    resources = {"cpu": spec.resources.cpus, "gpu": spec.resources.gpus}
    callback = TrackingCallback(tracker, progress, dirs)
    local = start_ray(address)
    try:
        try:
            prepare_bases(todo, bases_root, spec, progress)
        except ray.exceptions.RayError as err:
            for variant in todo:
                tracker.fail(variant.name, f"bases preparation failed: {err}")
                progress.failed(variant.name, "bases preparation (see the error above)")
                outcome.failed[variant.name] = "bases preparation failed"
            progress.console.print(f"[red]bases preparation failed[/red]: {err}")
            return outcome
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            param_space={"variant": tune.grid_search([v.name for v in todo])},
            run_config=tune.RunConfig(
                name=spec.name,
                storage_path=str((results / "ray").resolve()),
                callbacks=[callback],
                failure_config=tune.FailureConfig(max_failures=max_failures),
                verbose=0,
            ),
        )
        grid = tuner.fit()
    finally:
        if local:  # a cluster outlives the sweep
            ray.shutdown()
    for result in grid:
        name = result.config["variant"]
        if result.error is not None:
            outcome.failed[name] = f"{result.path}/error.txt"
        else:
            outcome.ran.append(name)
    return outcome
