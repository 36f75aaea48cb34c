"""How a stage's trainable weights are updated: AdamW, a cosine schedule with warmup, gradient
clipping, gradient accumulation, and saving/restoring all of that for an exact resume.

`TorchOptimization` is the plain single-process version; `lynx_core.train.zero` offers the
same interface on DeepSpeed ZeRO. The loop only calls `backward` per micro-batch and `step`
per optimizer step, so the two are interchangeable (and tested to give the same weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import get_cosine_schedule_with_warmup

from lynx_core.config import StageConfig
from lynx_core.model.vision import lr_scale_of
from lynx_core.train.checkpoint import load_checkpoint, save_checkpoint


class Optimization(Protocol):
    is_main: bool  # the process that writes shared files (rank 0)
    forward: torch.nn.Module  # call this for forward passes (DeepSpeed counts micro-steps)

    def backward(self, loss: torch.Tensor) -> None:
        """Accumulate the gradient of one micro-batch's (unscaled) loss."""

    def step(self) -> None:
        """Clip, update and advance the schedule, after `grad_accumulation` backward calls."""

    def lr(self) -> float: ...

    def weights(self) -> list[torch.Tensor]:
        """Full copies of the trainable weights (gathered, where they are sharded)."""

    def save(self, checkpoint: Path, meta: dict[str, Any]) -> None:
        """Everything needed to continue exactly, plus the caller's `meta`, atomically."""

    def load(self, checkpoint: Path) -> dict[str, Any] | None:
        """Restore a saved state; its `meta`, or None when there is no valid checkpoint."""

    def finish(self) -> None:
        """Leave the model's trainable weights whole and in place for saving."""


def optimizer_and_schedule(params, cfg: StageConfig):
    """AdamW over `params`, one group per learning-rate scale, the stage's own rate (scale 1)
    first (the one `lr()` reports and the loop logs), and the cosine schedule with warmup,
    which scales every group's rate alike."""
    scales = sorted({lr_scale_of(p) for p in params}, key=lambda s: (s != 1.0, s))
    groups = [
        {"params": [p for p in params if lr_scale_of(p) == s], "lr": cfg.lr * s} for s in scales
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=0.0)
    return optimizer, get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)


class TorchOptimization:
    is_main = True

    def __init__(
        self,
        params: list[torch.nn.Parameter],
        cfg: StageConfig,
        model: torch.nn.Module | None = None,
    ):
        self.params, self.cfg, self.forward = params, cfg, model
        self.optimizer, self.schedule = optimizer_and_schedule(params, cfg)

    def backward(self, loss: torch.Tensor) -> None:
        if loss.requires_grad:  # text-only data touches no weight of a model w/o adapters
            (loss / self.cfg.grad_accumulation).backward()

    def step(self) -> None:
        for param in self.params:  # reached by no micro-batch: a zero gradient, as DeepSpeed
            if param.grad is None:  # (AdamW would otherwise skip it, moments and all)
                param.grad = torch.zeros_like(param)
        torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)

    def lr(self) -> float:
        return self.schedule.get_last_lr()[0]

    def weights(self) -> list[torch.Tensor]:
        return [p.detach().cpu().clone() for p in self.params]

    def save(self, checkpoint: Path, meta: dict[str, Any]) -> None:
        state = {
            "meta": meta,
            "params": self.weights(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
        }
        save_checkpoint(checkpoint, state, meta["step"])

    def load(self, checkpoint: Path) -> dict[str, Any] | None:
        state = load_checkpoint(checkpoint)
        if state is None or "meta" not in state:  # none, damaged, or an older layout
            return None
        with torch.no_grad():
            for param, saved in zip(self.params, state["params"], strict=True):
                param.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        return state["meta"]

    def finish(self) -> None:
        pass
