"""Flamingo-style gated cross-attention inserted before chosen frozen LLM layers.

Text hidden states attend to the visual tokens; both the attention and the feed-forward branch
are scaled by tanh(gate) with gates initialised to 0, so an untrained model is exactly the
frozen LLM. The visual tokens reach the layers through a shared `MediaSlot` that the model
fills before each forward (the LLM's own layer signature has no room for them).
"""

from __future__ import annotations

import torch
from torch import nn

from lynx_core.config import CrossAttentionConfig


class MediaSlot:
    """Holds the current batch's visual tokens for every cross-attention layer."""

    def __init__(self) -> None:
        self.tokens: torch.Tensor | None = None  # (B, N, media_dim)


class GatedCrossAttention(nn.Module):
    def __init__(self, dim: int, media_dim: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(
            dim, heads, kdim=media_dim, vdim=media_dim, batch_first=True
        )
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        )
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, hidden: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        # hidden (B, T, dim), media (B, N, media_dim); every text token sees the one image,
        # which precedes the text in a Lynx prompt
        media = media.to(hidden.dtype)
        attended = self.attn(self.norm(hidden), media, media, need_weights=False)[0]
        hidden = hidden + torch.tanh(self.attn_gate) * attended
        return hidden + torch.tanh(self.ff_gate) * self.ff(hidden)


class CrossAttendedDecoderLayer(nn.Module):
    """Gated cross-attention on the media in `slot`, then the frozen decoder layer."""

    def __init__(self, xattn: GatedCrossAttention, layer: nn.Module, slot: MediaSlot):
        super().__init__()
        self.xattn = xattn
        self.layer = layer
        self.slot = slot

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        if self.slot.tokens is not None:
            hidden_states = self.xattn(hidden_states, self.slot.tokens)
        return self.layer(hidden_states, *args, **kwargs)


def attach_cross_attention(
    layers: nn.ModuleList, dim: int, media_dim: int, cfg: CrossAttentionConfig, slot: MediaSlot
) -> list[int]:
    """Wrap every `cfg.every`-th layer of `layers` in place; returns their indices."""
    chosen = list(range(0, len(layers), cfg.every))
    for i in chosen:
        xattn = GatedCrossAttention(dim, media_dim, cfg.heads)
        layers[i] = CrossAttendedDecoderLayer(xattn, layers[i], slot)
    return chosen
