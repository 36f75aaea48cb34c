"""Training across data-parallel ranks, for a process group someone else set up (the ranks
themselves and evaluation's `dealt` / `gathered` are `lynx_core.compute.ranks`).

A launcher (Ray Train's `TorchTrainer`, `torchrun`) starts the ranks and initialises
`torch.distributed` (NCCL on GPUs, gloo on CPUs); this module only uses it, and knows nothing
of who launched it. Each rank takes its own rows of every global micro-batch, so the global
batch is `train.<stage>.batch_size` at any world size, and the result equals a single
process's up to float rounding:

- the batch is collated whole on every rank (same padding, hence the same positions under
  left padding) and then cut into contiguous row blocks, one per rank (`take_rows`, beside
  `collate` in `lynx_core.data.batches`);
- a rank's loss is weighted by its share of the global batch's answer tokens (`loss_weight`), so
  that the gradient all-reduce's mean equals the gradient of the global token-mean loss;
- gradients cross ranks once per optimizer step: DDP's `no_sync` on every micro-batch but
  the last (`DataParallelOptimization`), DeepSpeed's own reduction under ZeRO.

The optimizer state of plain data parallelism is the same on every rank, so rank 0 alone
saves it and any world size can resume it (the global batch does not change).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from lynx_core.compute.ranks import Ranks
from lynx_core.config import StageConfig
from lynx_core.data.batches import GLOBAL_TOKENS, MASKED_TOKENS, answer_tokens
from lynx_core.train.optimization import TorchOptimization


def loss_weight(batch: dict[str, torch.Tensor], ranks: Ranks) -> float:
    """Removes the counts `take_rows` and the batch's masking added; the weight of this
    rank's token-mean loss: its share of the global answer tokens × world size, so that the
    mean over ranks of the weighted losses (and of their gradients) is the global batch's
    token-mean. The answer tokens of rows masked for an undecodable image are taken off the
    global count (one scalar all-reduce: each rank knows only its own). A batch with no
    answer token left weighs 0."""
    total = batch.pop(GLOBAL_TOKENS, None)
    masked = batch.pop(MASKED_TOKENS, None)
    mine = answer_tokens(batch["labels"])
    if total is None:
        return 1.0 if mine else 0.0
    total = int(total)
    if masked is not None and ranks.world > 1:
        count = torch.tensor([float(masked)], dtype=torch.float64, device=ranks.device)
        dist.all_reduce(count)
        total -= int(count.item())
    return mine * ranks.world / max(total, 1)


def scaled(loss: torch.Tensor, weight: float) -> torch.Tensor:
    """`loss × weight`. A rank whose rows hold no answer token (weight 0) has the NaN of an
    empty mean: it contributes a zero that still reaches the graph. Any other NaN stays, for
    the loop to stop on."""
    if weight == 0.0:
        return torch.nan_to_num(loss, nan=0.0) * 0.0
    return loss if weight == 1.0 else loss * weight


class DataParallelOptimization(TorchOptimization):
    """`TorchOptimization` under `DistributedDataParallel`: gradients are averaged across
    ranks once per optimizer step, and only rank 0 writes the (replicated) state."""

    def __init__(
        self,
        params: list[torch.nn.Parameter],
        cfg: StageConfig,
        model: torch.nn.Module,
        ranks: Ranks,
    ):
        super().__init__(params, cfg, model)
        device_ids = [ranks.device] if ranks.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)
        self.is_main, self.micro = ranks.is_main, 0
        self.forward = self._forward

    def _forward(self, **batch: torch.Tensor) -> Any:
        last = (self.micro + 1) % self.cfg.grad_accumulation == 0
        with nullcontext() if last else self.ddp.no_sync():  # DDP decides at forward time
            output = self.ddp(**batch)
        # every trainable weight takes part in every backward, so DDP never waits for a
        # gradient a batch does not produce (text-only batches skip the resampler) and a
        # loss that reaches no weight still runs the all-reduce every rank expects
        output.loss = output.loss + 0.0 * sum(p.sum() for p in self.params)
        return output

    def backward(self, loss: torch.Tensor) -> None:
        self.micro += 1
        (loss / self.cfg.grad_accumulation).backward()

    def save(self, checkpoint: Path, meta: dict[str, Any]) -> None:
        if self.is_main:
            super().save(checkpoint, meta)
