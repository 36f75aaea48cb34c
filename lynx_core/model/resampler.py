"""Perceiver resampler: a fixed number of learned queries summarise any number of patch tokens.

As in Flamingo and Lynx, each layer lets the latents attend to [patch tokens; latents], then
applies a feed-forward block, both residual. Attention is written with
`scaled_dot_product_attention` (one fused kernel; `nn.MultiheadAttention` costs ~25% more per
step at toy scale). Not here: projection into the LLM's width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lynx_core.config import ResamplerConfig


class ResamplerLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.resampler.dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.ff = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        )

    def forward(self, latents: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        batch, n, dim = latents.shape
        queries = self.norm_latents(latents)  # (B, N, D)
        context = torch.cat([self.norm_media(media), queries], dim=1)  # (B, P+N, D)
        q = self.to_q(queries).view(batch, n, self.heads, -1).transpose(1, 2)  # (B, h, N, d)
        k, v = (
            self.to_kv(context)
            .view(batch, -1, 2, self.heads, dim // self.heads)
            .permute(2, 0, 3, 1, 4)
        )  # each (B, h, P+N, d)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, n, dim)
        latents = latents + self.to_out(attended)
        return latents + self.ff(latents)


class PerceiverResampler(nn.Module):
    """(B, P, in_dim) patch tokens → (B, num_queries, dim) visual tokens."""

    def __init__(self, in_dim: int, cfg: ResamplerConfig):
        super().__init__()
        self.out_dim = cfg.dim
        # tower width → resampler width; none needed when they agree (as in Flamingo)
        self.input_proj = nn.Linear(in_dim, cfg.dim) if in_dim != cfg.dim else nn.Identity()
        self.latents = nn.Parameter(torch.randn(cfg.num_queries, cfg.dim) * 0.02)
        self.layers = nn.ModuleList(ResamplerLayer(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        media = self.input_proj(patches)  # (B, P, D)
        latents = self.latents.expand(media.shape[0], -1, -1)  # (B, N, D)
        for layer in self.layers:
            latents = layer(latents, media)
        return self.norm(latents)
