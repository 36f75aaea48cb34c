"""Flamingo-style gated cross-attention inserted before every k-th frozen LLM layer.

Text hidden states attend to the visual tokens; both the attention and the feed-forward branch
are scaled by tanh(gate) with gates initialised to 0, so an untrained model is exactly the
frozen LLM. A text token attends only to media that precede it: positions up to the media's
anchor (BOS, or the tokens before an `<image>` placeholder) get no cross-attention output.
The visual tokens reach the layers through a shared `MediaSlot` that the model fills before
each forward, because the LLM's own layer signature has no room for them.
"""

from __future__ import annotations

import torch
from torch import nn

from lynx_core.config import CrossAttentionConfig


class MediaSlot:
    """The current batch's visual tokens and which prompt positions may see them."""

    def __init__(self) -> None:
        self.tokens: torch.Tensor | None = None  # (B, N, media_dim)
        self.visible: torch.Tensor | None = None  # (B, T_prompt) bool

    def for_hidden(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Media and visibility matched to `hidden` (B', T', D) during training or `generate`.

        Beam search repeats each row; the positions beyond the prompt (generated tokens)
        always follow the media; with a KV cache only those new positions come through.
        """
        media, visible = self.tokens, self.visible
        if hidden.shape[0] != media.shape[0]:  # beams: rows repeated num_beams times
            repeat = hidden.shape[0] // media.shape[0]
            media = media.repeat_interleave(repeat, dim=0)
            visible = visible.repeat_interleave(repeat, dim=0)
        length = hidden.shape[1]
        if length >= visible.shape[1]:
            extra = visible.new_ones(visible.shape[0], length - visible.shape[1])
            visible = torch.cat([visible, extra], dim=1)
        else:  # cached decoding: only new tokens, all after the media
            visible = visible.new_ones(visible.shape[0], length)
        return media.to(hidden.dtype), visible


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

    def forward(
        self, hidden: torch.Tensor, media: torch.Tensor, visible: torch.Tensor
    ) -> torch.Tensor:
        # hidden (B, T, dim), media (B, N, media_dim), visible (B, T)
        attended = self.attn(self.norm(hidden), media, media, need_weights=False)[0]
        attended = attended * visible.unsqueeze(-1).to(attended.dtype)
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
            hidden_states = self.xattn(hidden_states, *self.slot.for_hidden(hidden_states))
        return self.layer(hidden_states, *args, **kwargs)


def attach_cross_attention(
    layers: nn.ModuleList, dim: int, media_dim: int, cfg: CrossAttentionConfig, slot: MediaSlot
) -> list[int]:
    """Wrap layers 0, k, 2k, … of `layers` in place; returns their indices."""
    chosen = list(range(0, len(layers), cfg.every))
    for i in chosen:
        xattn = GatedCrossAttention(dim, media_dim, cfg.heads)
        layers[i] = CrossAttendedDecoderLayer(xattn, layers[i], slot)
    return chosen
