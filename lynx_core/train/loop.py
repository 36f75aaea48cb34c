"""The one optimisation loop shared by every stage (bases, stage 1, stage 2).

The caller supplies `step_loss(batch_number)` and an `Optimization` (plain AdamW or DeepSpeed
ZeRO: cosine schedule with warmup, clipping), so the loop knows nothing of models or data;
optimizer step s consumes batches s·k … s·k + k − 1 for `grad_accumulation` k. A log callback
sees a record every `log_every` steps. With a checkpoint path the stage saves its state every
`checkpoint_every` steps (the latest) and, when restarted, continues from there: since batches
are a pure function of the step, a resumed stage ends exactly where an uninterrupted one would.
Beside it, `best.<name>` keeps the weights of the checkpoint with the lowest logged loss. The logged
records travel in the checkpoint, so a resumed stage still returns its whole curve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lynx_core.config import StageConfig
from lynx_core.faults import fault_point
from lynx_core.train.checkpoint import save_checkpoint
from lynx_core.train.optimization import Optimization

Record = dict[str, float | int | str]
LogFn = Callable[[Record], None]


def best_path(checkpoint: Path) -> Path:
    """Where the best weights of a stage whose latest state is `checkpoint` are kept."""
    return checkpoint.with_name(f"best.{checkpoint.name}")


def train_stage(
    step_loss: Callable[[int], torch.Tensor],
    optimization: Optimization,
    cfg: StageConfig,
    *,
    stage: str,
    log_every: int = 10,
    on_log: LogFn | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 50,
    mean_over_ranks: Callable[[float], float] | None = None,
    validate: Callable[[], float] | None = None,
    after_step: Callable[[int], None] | None = None,
) -> list[Record]:
    """Run the stage's remaining steps; returns every logged record, first step to last.

    A record is {stage, step, total_steps, loss (mean over the logging window), lr,
    samples_per_s}, and `val_loss` (`validate()`: the loss on held-out examples) every
    `cfg.validate_every` steps and at the last; `on_log` sees each as it is made. Under data
    parallelism every rank runs this loop; `mean_over_ranks` turns a rank's loss into the
    global batch's (a collective: every rank logs at the same steps, so the records and the
    best checkpoint agree). `after_step(n)` is told once the optimizer step has taken the
    micro-batches numbered below `n` (the sample log records them then).
    """
    if cfg.steps == 0:
        return []
    first, history, best = 0, [], math.inf
    meta = optimization.load(checkpoint) if checkpoint is not None else None
    if meta is not None:
        first, history, best = meta["step"], meta["history"], meta["best_loss"]
    window: list[float] = []
    started = time.perf_counter()
    steps = range(first, cfg.steps)
    progress = tqdm(steps, desc=stage, leave=False, mininterval=1.0, disable=None)
    micro = cfg.grad_accumulation
    for step in progress:
        step_total = 0.0
        for k in range(micro):  # micro-batches step·micro … step·micro + micro − 1
            loss = step_loss(step * micro + k)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{stage}: loss is {loss.item()} at step {step}")
            optimization.backward(loss)
            step_total += loss.item() / micro
        optimization.step()
        window.append(step_total)
        done = step + 1
        if after_step is not None:
            after_step(done * micro)
        fault_point(f"step:{stage}:{done}")  # the fault suite stops a stage here
        if done % log_every and done != cfg.steps:
            continue
        last_loss = sum(window) / len(window)
        if mean_over_ranks is not None:
            last_loss = mean_over_ranks(last_loss)
        window.clear()
        elapsed = time.perf_counter() - started
        record = {
            "stage": stage,
            "step": done,
            "total_steps": cfg.steps,
            "loss": last_loss,
            "lr": optimization.lr(),
            "samples_per_s": (done - first) * cfg.batch_size * micro / elapsed,
        }
        if (
            validate is not None
            and cfg.validate_every
            and (done % cfg.validate_every == 0 or done == cfg.steps)
        ):
            record["val_loss"] = validate()
        if checkpoint is not None and (done % checkpoint_every == 0 or done == cfg.steps):
            # saved before the log call, so a crash while reporting loses no work
            if last_loss < best:
                best = last_loss
                weights = optimization.weights()  # a collective under ZeRO-3: every rank calls
                if optimization.is_main:
                    state = {"step": done, "loss": last_loss, "params": weights}
                    save_checkpoint(best_path(checkpoint), state, done)
            meta = {"step": done, "history": [*history, record], "best_loss": best}
            optimization.save(checkpoint, meta)
        history.append(record)
        progress.set_postfix(loss=f"{last_loss:.3f}")
        if on_log is not None:
            on_log(record)
    optimization.finish()
    return history
