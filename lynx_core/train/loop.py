"""The one optimisation loop shared by every stage (bases, stage 1, stage 2).

AdamW over the trainable parameters only, cosine schedule with warmup, gradient accumulation
over `grad_accumulation` micro-batches, gradient clipping, and a log callback every `log_every`
steps. The caller supplies `step_loss(batch_number)`, so the loop knows nothing of models or
data; optimizer step s consumes batches s·k … s·k + k − 1. With a checkpoint path the stage
saves its state every `checkpoint_every` steps and, when restarted, continues from there: since
batches are a pure function of the step, a resumed stage ends exactly where an uninterrupted
one would. The logged
records travel in the checkpoint, so a resumed stage still returns its whole curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from lynx_core.config import StageConfig
from lynx_core.train.checkpoint import load_checkpoint, save_checkpoint

Record = dict[str, float | int | str]
LogFn = Callable[[Record], None]


def train_stage(
    step_loss: Callable[[int], torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    cfg: StageConfig,
    *,
    stage: str,
    log_every: int = 10,
    on_log: LogFn | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 50,
) -> list[Record]:
    """Run the stage's remaining steps; returns every logged record, first step to last.

    A record is {stage, step, total_steps, loss (mean over the logging window), lr,
    samples_per_s}; `on_log` sees each as it is made.
    """
    if cfg.steps == 0:
        return []
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    first, history = 0, []
    state = load_checkpoint(checkpoint) if checkpoint is not None else None
    if state is not None:
        with torch.no_grad():
            for param, saved in zip(params, state["params"], strict=True):
                param.copy_(saved)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        first, history = state["step"], state["history"]
    window: list[float] = []
    started = time.perf_counter()
    steps = range(first, cfg.steps)
    progress = tqdm(steps, desc=stage, leave=False, mininterval=1.0, disable=None)
    micro = cfg.grad_accumulation
    for step in progress:
        optimizer.zero_grad(set_to_none=True)
        step_total = 0.0
        for k in range(micro):  # micro-batches step·micro … step·micro + micro − 1
            loss = step_loss(step * micro + k)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{stage}: loss is {loss.item()} at step {step}")
            if loss.requires_grad:  # text-only data touches no weight of a model w/o adapters
                (loss / micro).backward()
            step_total += loss.item() / micro
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        schedule.step()
        window.append(step_total)
        done = step + 1
        if done % log_every and done != cfg.steps:
            continue
        last_loss = sum(window) / len(window)
        window.clear()
        elapsed = time.perf_counter() - started
        record = {
            "stage": stage,
            "step": done,
            "total_steps": cfg.steps,
            "loss": last_loss,
            "lr": schedule.get_last_lr()[0],
            "samples_per_s": (done - first) * cfg.batch_size * micro / elapsed,
        }
        if checkpoint is not None and (done % checkpoint_every == 0 or done == cfg.steps):
            # saved before the log call, so a crash while reporting loses no work
            save_checkpoint(
                checkpoint,
                {
                    "step": done,
                    "history": [*history, record],
                    "params": [p.detach().clone() for p in params],
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                },
            )
        history.append(record)
        progress.set_postfix(loss=f"{last_loss:.3f}")
        if on_log is not None:
            on_log(record)
    return history
