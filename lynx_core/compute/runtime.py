"""Where a stage runs and in which precision: the device, bf16 autocast, batches moved there.

`auto` means CUDA when the worker has a GPU (Ray hands a trial the GPUs its resources name) and
bf16 autocast when that GPU supports it; on a CPU, fp32. Asking for CUDA where there is none
is an error naming the field, not a silent fall back to a hundred times slower training.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from lynx_core.config import TrainConfig


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: fp32, no autocast

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    @property
    def precision(self) -> str:
        return "fp32" if self.autocast_dtype is None else "bf16"

    @property
    def name(self) -> str:
        """E.g. 'cpu fp32': what a stage's key holds (`lynx_core.stages.planned_runtime`)."""
        return f"{self.device.type} {self.precision}"


CPU = Runtime(torch.device("cpu"), None)


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    has_cuda = torch.cuda.is_available()
    if cfg.device == "cuda" and not has_cuda:
        raise RuntimeError(
            "train.device is 'cuda' but this worker sees no CUDA GPU; give the trial GPUs "
            "(sweep `resources: {gpus: 1}`) or set train.device: auto"
        )
    device = torch.device("cuda" if cfg.device != "cpu" and has_cuda else "cpu")
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return Runtime(device, torch.bfloat16 if precision == "bf16" else None)
