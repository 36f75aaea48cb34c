"""A stage on several workers: a Ray Train `TorchTrainer` run inside its Tune trial.

Ray Train V2's way of nesting Train in Tune: the trial (holding a token CPU) builds the
trainer and calls `fit()`; the workers get their own placement group, one bundle each of the
stage's `resources.<stage>` request; Ray Train sets up the process group (NCCL on GPUs, gloo
on CPUs) before our code runs, and each worker runs the stage as its rank
(`lynx_core.train.distributed`): a training stage's ranks each take their rows of every
batch, an evaluation's their hand of its batches of questions. Rank 0 writes the stage's
outputs and returns them.

`ray.train.report` is a barrier across workers, so every rank reports at every logged step
(rank 0 with the record, the others with nothing); `TuneReportCallback` forwards rank 0's
to the trial, where the driver sees them as any trial's. A worker that dies fails the
`fit()` (Ray Train retries nothing: `max_failures=0`), the trial fails, and Tune's retry
of the trial resumes from the stage's checkpoint as a single-process stage does.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from ablations.planning.plan import StageRun
from ablations.planning.store import Store
from ablations.sweep.resources import Ask

# Ray Train's controller retries placing a worker group it cannot place yet without limit,
# as Tune queues a trial: a cluster that could never hold the workers is refused before the
# sweep starts (`ablations.execute.capacity`), so a wait here is other stages holding the resources
PLACEMENT_RETRIES = -1


def check_runtime(run: StageRun) -> None:
    """The runtime this worker resolves to must be the one the run's key was planned with,
    so a result is never stored under a key that says another device or precision."""
    from lynx_core.compute.runtime import resolve_runtime

    planned = run.inputs.get("runtime")
    actual = resolve_runtime(run.config.train).name
    if planned is not None and actual != planned:
        raise RuntimeError(
            f"{run.id} was planned to run as '{planned}' but this worker resolves "
            f"train.device / train.precision ({run.config.train.device} / "
            f"{run.config.train.precision}) to '{actual}'; set them explicitly in the sweep"
        )


def run_on_workers(
    run: StageRun,
    ask: Ask,
    store: Store,
    storage: Path,
    attempt: int,
    fail_at: tuple[str, int] | None,
):
    """The stage on `ask.workers` workers; rank 0's `StageOutput`."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    trainer = TorchTrainer(
        partial(
            stage_worker,
            run=run,
            store_root=str(store.root.resolve()),
            threads=ask.threads,
            fail_at=fail_at if attempt == 1 else None,
        ),
        scaling_config=ScalingConfig(
            num_workers=ask.workers, use_gpu=ask.gpus > 0, resources_per_worker=ask.bundle()
        ),
        torch_config=TorchConfig(backend="nccl" if ask.gpus > 0 else "gloo"),
        run_config=RunConfig(
            name=f"{run.stage}-{run.key[:16]}-attempt{attempt}",
            storage_path=str(storage.resolve()),  # workers have their own working directory
            callbacks=[TuneReportCallback()],  # made here: it belongs to this trial's session
            failure_config=FailureConfig(
                max_failures=0, controller_failure_limit=PLACEMENT_RETRIES
            ),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return result.return_value


def stage_worker(
    run: StageRun,
    store_root: str,
    threads: int,
    fail_at: tuple[str, int] | None,
):
    """One rank of the stage (Ray Train's `train_loop_per_worker`); rank 0 returns its output."""
    import ray
    import ray.train
    import ray.train.torch
    import torch

    from lynx_core.compute.ranks import Ranks
    from lynx_core.pipeline import run_stage

    check_runtime(run)  # this worker's device and precision are the ones the key says
    torch.set_num_threads(threads)
    context = ray.train.get_context()
    ranks = Ranks(context.get_world_rank(), context.get_world_size(), ray.train.torch.get_device())
    store = Store(Path(store_root))

    def report(record: dict[str, Any]) -> None:
        if ranks.is_main and (run.id, record["step"]) == fail_at:
            raise RuntimeError(f"injected failure: {run.id} at step {record['step']}")
        ray.train.report({"kind": "steps", "records": [record]} if ranks.is_main else {})

    output = run_stage(
        run.stage, run.config, store.folders(run), store.cache, on_log=report, ranks=ranks
    )
    if not ranks.is_main:
        return None
    assigned = ray.get_runtime_context().get_assigned_resources()
    output.tags[f"lynx_{run.stage}_resources"] = describe(assigned, ranks.world)
    return output


def describe(assigned: dict[str, float], workers: int = 1) -> str:
    """E.g. '2 workers x CPU 0.5, accel 1': what Ray gave a stage run (per worker)."""
    each = ", ".join(f"{name} {amount:g}" for name, amount in sorted(assigned.items()) if amount)
    return f"{workers} workers x {each}" if workers > 1 else each
