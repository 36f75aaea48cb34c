"""Connectors: how the vision tower's patch tokens become the visual tokens an injector hands
to the LLM. One registered builder per `model.connector` value.

- `resampler`: Lynx's perceiver resampler, a fixed number of learned queries over all patches
  (and all frames) of a clip (`lynx_core.model.resampler`).
- `mlp`: LLaVA-1.5's projector, linear → GELU → linear on every patch token: one visual token
  per patch, per frame. Under the prefix injector the second linear is followed by the
  injector's own linear map and its scale hold (`lynx_core.model.prefix`): two linear maps in
  a row are one, so the path is LLaVA's two-layer MLP (hidden width `mlp.dim`, not the LLM's)
  with its output held at a word's scale, as every connector's is.
- `avg_pool`: each frame's patch grid average-pooled to `tokens` cells (side × side), then one
  linear map: a fixed count without learned queries, as MM1 and Prismatic ablate it.

Every connector takes the tower's output, (B, T·P, width) with P = patches per frame (T = 1
for an image), and returns (B, N, out_dim); `out_dim` is what the injector is built for.
Adding a connector = one class or builder here, one registry line, one `model.connector`
value. Not here: the tower, or how the tokens reach the LLM (`lynx_core.model.injectors`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lynx_core.config import AvgPoolConfig, MlpProjectorConfig, ModelConfig
from lynx_core.model.resampler import PerceiverResampler
from lynx_core.model.vision import VisionTower


class MlpProjector(nn.Module):
    """(B, N, in_dim) patch tokens → (B, N, dim): LLaVA-1.5's `mlp2x_gelu`, token by token."""

    def __init__(self, in_dim: int, cfg: MlpProjectorConfig):
        super().__init__()
        self.out_dim = cfg.dim
        self.net = nn.Sequential(nn.Linear(in_dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.net(patches)


class AvgPoolConnector(nn.Module):
    """(B, T·gh·gw, in_dim) patch tokens → (B, T·side², dim): each frame's gh × gw grid
    average-pooled to side × side cells, then a linear map. Frames stay apart and in order.
    Pooling is adaptive: where side does not divide the grid, neighbouring cells overlap
    (3 cells over 4 patches average patches 0–1, 1–2 and 2–3)."""

    def __init__(self, in_dim: int, grid: tuple[int, int], cfg: AvgPoolConfig):
        super().__init__()
        misfit = cfg.misfit(grid, "the tower")
        if misfit:
            raise ValueError(misfit)
        self.grid, self.side, self.out_dim = grid, cfg.side, cfg.dim
        self.proj = nn.Linear(in_dim, cfg.dim)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = patches.shape
        per_frame = self.grid[0] * self.grid[1]
        if tokens % per_frame:
            raise ValueError(f"{tokens} patch tokens are not whole frames of the {self.grid} grid")
        frames = patches.reshape(-1, self.grid[0], self.grid[1], width).permute(0, 3, 1, 2)
        pooled = F.adaptive_avg_pool2d(frames, self.side)  # (B·T, width, side, side)
        pooled = pooled.flatten(2).transpose(1, 2).reshape(batch, -1, width)  # (B, T·side², W)
        return self.proj(pooled)


def build_resampler(vision: VisionTower, cfg: ModelConfig) -> nn.Module:
    return PerceiverResampler(vision.width, cfg.resampler)


def build_mlp(vision: VisionTower, cfg: ModelConfig) -> nn.Module:
    return MlpProjector(vision.width, cfg.mlp)


def build_avg_pool(vision: VisionTower, cfg: ModelConfig) -> nn.Module:
    return AvgPoolConnector(vision.width, vision.grid, cfg.avg_pool)


ConnectorBuilder = Callable[[VisionTower, ModelConfig], nn.Module]

CONNECTORS: dict[str, ConnectorBuilder] = {
    "resampler": build_resampler,
    "mlp": build_mlp,
    "avg_pool": build_avg_pool,
}


def visual_tokens(cfg: ModelConfig, patches_per_frame: int, frames: int = 1) -> int:
    """How many visual tokens the connector hands the LLM for one image (frames = 1) or a
    clip of `frames` frames: what `bench/gpu_step.py` counts in the LLM's sequence."""
    per_clip = {
        "resampler": lambda: cfg.resampler.num_queries,
        "mlp": lambda: patches_per_frame * frames,
        "avg_pool": lambda: cfg.avg_pool.tokens * frames,
    }
    return per_clip[cfg.connector]()
