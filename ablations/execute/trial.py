"""The Ray Tune trainable: one stage run into its store folder, then its manifest.

Kept apart from the driver's modules (MLflow, pandas, rich) so that a trial's worker process
imports only what a stage needs: every new trial actor pays its imports before it computes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray import tune

from ablations.execute.workers import check_runtime, describe, run_on_workers
from ablations.planning.plan import StageRun
from ablations.planning.store import Store
from ablations.sweep.resources import TRIAL_TOKEN_CPUS, Resources


def run_stage_trial(
    config: dict[str, Any],
    *,
    runs: dict[str, StageRun],
    store_root: str,
    resources: Resources,
    train_storage: str,
    fail_at: tuple[str, int] | None = None,
) -> None:
    """Ray Tune function trainable: one stage run, into its store folder, then its manifest.

    A retried trial calls this again; the checkpoint in the run's folder makes it continue.
    A run that another sweep computed meanwhile (it held the run's lock) is not computed again.
    A stage given several workers runs them as one Ray Train run (`ablations.execute.workers`).
    """
    import ray
    import torch

    from lynx_core.pipeline import run_stage
    from lynx_core.train.checkpoint import saved_steps

    run = runs[config["run"]]
    ask = resources.of(run.stage)
    torch.set_num_threads(ask.threads)
    store = Store(Path(store_root))
    store.verify_inputs(run)  # never build on corrupted outputs
    with store.claim(run):
        done = store.manifest(run.stage, run.key)
        if done is not None:
            tune.report({"kind": "final", **done.metrics})
            return
        if ask.workers == 1:  # a multi-worker stage checks on its workers, which hold the GPUs
            check_runtime(run)
        folder = store.folder(run.stage, run.key)
        attempt = store.begin(run, checkpoints=saved_steps(folder), workers=ask.workers)
        if ask.workers > 1:
            output = run_on_workers(run, ask, store, Path(train_storage), attempt, fail_at)
        else:
            curve = CurveReporter()

            def report(record: dict[str, Any]) -> None:
                curve.add(record)
                if attempt == 1 and (run.id, record["step"]) == fail_at:
                    raise RuntimeError(f"injected failure: {run.id} at step {record['step']}")

            folders = store.folders(run)
            output = run_stage(run.stage, run.config, folders, store.cache, on_log=report)
            curve.flush()
            assigned = ray.get_runtime_context().get_assigned_resources()
            output.tags[f"lynx_{run.stage}_resources"] = describe(assigned)
        store.complete(run, output.metrics, output.history, output.tags)
    tune.report({"kind": "final", **output.metrics})


def trial_resources(resources: Resources, runs: dict[str, StageRun]):
    """Per trial, what it holds: a single-process stage its request; a multi-worker stage a
    token CPU, its workers asking for theirs in their own placement group (Ray Train)."""
    from ray.tune import PlacementGroupFactory

    def of(config: dict[str, Any]) -> PlacementGroupFactory:
        ask = resources.of(runs[config["run"]].stage)
        bundle = {"CPU": TRIAL_TOKEN_CPUS} if ask.workers > 1 else ask.bundle()
        return PlacementGroupFactory([bundle])

    return of


class CurveReporter:
    """Logged records sent to the driver at most every `every_s` seconds (and each curve's
    last at once): at toy scale a step takes milliseconds, and a report per record would
    keep the driver (Tune's loop, MLflow's writes) busy on a core the trials need. Records
    not yet sent when a trial dies are in its checkpoint and reach MLflow with the manifest."""

    def __init__(self, every_s: float = 1.0):
        self.every_s, self.records = every_s, []
        self.sent = time.monotonic()

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if time.monotonic() - self.sent >= self.every_s or record["step"] == record["total_steps"]:
            self.flush()

    def flush(self) -> None:
        if self.records:
            tune.report({"kind": "steps", "records": self.records})
            self.records, self.sent = [], time.monotonic()
