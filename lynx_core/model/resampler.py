"""Perceiver resampler: a fixed number of learned queries summarise any number of patch tokens.

As in Flamingo and Lynx, each layer lets the latents attend to [patch tokens; latents], then
applies a feed-forward block, both residual. Not here: projection into the LLM's width.
"""

from __future__ import annotations

import torch
from torch import nn

from lynx_core.config import ResamplerConfig


class ResamplerLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        )

    def forward(self, latents: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        q = self.norm_latents(latents)  # (B, N, D)
        kv = torch.cat([self.norm_media(media), q], dim=1)  # (B, P + N, D)
        latents = latents + self.attn(q, kv, kv, need_weights=False)[0]
        return latents + self.ff(latents)


class PerceiverResampler(nn.Module):
    """(B, P, in_dim) patch tokens → (B, num_queries, dim) visual tokens."""

    def __init__(self, in_dim: int, cfg: ResamplerConfig):
        super().__init__()
        self.input_proj = nn.Linear(in_dim, cfg.dim)
        self.latents = nn.Parameter(torch.randn(cfg.num_queries, cfg.dim) * 0.02)
        self.layers = nn.ModuleList(ResamplerLayer(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        media = self.input_proj(patches)  # (B, P, D)
        latents = self.latents.expand(media.shape[0], -1, -1)  # (B, N, D)
        for layer in self.layers:
            latents = layer(latents, media)
        return self.norm(latents)
