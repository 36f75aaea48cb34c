"""The one optimisation loop shared by every stage (bases, stage 1, stage 2).

AdamW over the trainable parameters only, cosine schedule with warmup, gradient clipping, and
a log callback every `log_every` steps. The caller supplies `step_loss(step)`, so the loop
knows nothing of models or data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from lynx_core.config import StageConfig

LogFn = Callable[[dict[str, float | int | str]], None]


def train_stage(
    step_loss: Callable[[int], torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    cfg: StageConfig,
    *,
    stage: str,
    log_every: int = 10,
    on_log: LogFn | None = None,
) -> float:
    """Run `cfg.steps` steps; returns the mean loss of the last logging window."""
    if cfg.steps == 0:
        return math.nan
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    window: list[float] = []
    started = time.perf_counter()
    last_loss = math.nan
    progress = tqdm(range(cfg.steps), desc=stage, leave=False, mininterval=1.0, disable=None)
    for step in progress:
        loss = step_loss(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{stage}: loss is {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        schedule.step()
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            last_loss = sum(window) / len(window)
            elapsed = time.perf_counter() - started
            progress.set_postfix(loss=f"{last_loss:.3f}")
            if on_log is not None:
                on_log(
                    {
                        "stage": stage,
                        "step": step + 1,
                        "total_steps": cfg.steps,
                        "loss": last_loss,
                        "lr": schedule.get_last_lr()[0],
                        "samples_per_s": (step + 1) * cfg.batch_size / elapsed,
                    }
                )
            window.clear()
    return last_loss
