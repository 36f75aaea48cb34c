"""Prefix-finetuning: visual tokens, projected to the LLM width, placed into the prompt.

The tokens go right after each row's anchor: the BOS token (Lynx puts the media before the
whole instruction) or, when the prompt has an `<image>` placeholder, in its place. Builds the
LLM's `inputs_embeds`, attention mask and labels with the visual positions out of the loss.
Not here: how visual tokens are produced.
"""

from __future__ import annotations

import torch
from torch import nn

from lynx_core.data.examples import IGNORE_INDEX


class PrefixProjector(nn.Module):
    """(B, N, media_dim) visual tokens → (B, N, llm_dim) prefix embeddings, each with the
    root-mean-square of the LLM's word embeddings.

    A prefix many times larger than a word dominates the residual stream at its positions, so
    the frozen layers cannot turn it into the features that later tokens read, and
    prefix-tuning stalls. Initialising the projection small is not enough: AdamW moves every
    weight by about the learning rate each step whatever its scale, and at toy scale the
    prefix grew to 34 times a word's norm within 300 steps, its colour and shape unread by
    the LLM though linearly decodable from the visual tokens. So the scale is held, and the
    projection learns directions only.
    """

    def __init__(self, media_dim: int, llm_dim: int, embedding_std: float = 0.02):
        super().__init__()
        self.proj = nn.Linear(media_dim, llm_dim)
        nn.init.normal_(self.proj.weight, std=embedding_std / media_dim**0.5)
        nn.init.zeros_(self.proj.bias)
        self.scale = embedding_std  # a word embedding's RMS per dimension

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        projected = self.proj(media)  # (B, N, llm_dim)
        rms = projected.pow(2).mean(dim=-1, keepdim=True).add(1e-12).sqrt()
        return projected * (self.scale / rms)


def insert_prefix(
    prefix: torch.Tensor,
    text_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    anchor: torch.Tensor,
    placeholder: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Rows become [padding][text ≤ anchor][prefix][text > anchor], placeholders dropped.

    prefix (B, N, D), text_embeds (B, T, D), attention_mask (B, T) left-padded, anchor (B,)
    index of the last text token before the media, placeholder (B, T) bool.
    Returns embeds (B, N+T, D), mask (B, N+T), labels (B, N+T) or None.
    """
    batch, n_prefix = prefix.shape[:2]
    positions = torch.arange(text_embeds.shape[1], device=anchor.device)
    mask = attention_mask * ~placeholder  # a placeholder becomes padding
    before = positions.unsqueeze(0) <= anchor.unsqueeze(1)
    # sort key: padding 0, text before the media 1, prefix 2, text after 3; stable sort
    text_key = torch.where(mask.bool(), torch.where(before, 1, 3), 0)
    key = torch.cat([text_key.new_full((batch, n_prefix), 2), text_key], dim=1)
    order = torch.argsort(key, dim=1, stable=True)
    embeds = torch.cat([prefix.to(text_embeds.dtype), text_embeds], dim=1)
    embeds = embeds.gather(1, order.unsqueeze(-1).expand_as(embeds))
    full_mask = torch.cat([mask.new_ones(batch, n_prefix), mask], dim=1).gather(1, order)
    if labels is None:
        return embeds, full_mask, None
    labels = labels.masked_fill(placeholder, IGNORE_INDEX)
    labels = torch.cat([labels.new_full((batch, n_prefix), IGNORE_INDEX), labels], dim=1)
    return embeds, full_mask, labels.gather(1, order)
