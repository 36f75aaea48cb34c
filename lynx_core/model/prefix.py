"""Prefix-finetuning: visual tokens, projected to the LLM width, placed before the prompt.

Builds the LLM's `inputs_embeds`, attention mask and labels for [visual tokens; text], with
the visual positions masked out of the loss. Not here: how visual tokens are produced.
"""

from __future__ import annotations

import torch
from torch import nn

IGNORE_INDEX = -100


class PrefixProjector(nn.Module):
    """(B, N, media_dim) visual tokens → (B, N, llm_dim) prefix embeddings."""

    def __init__(self, media_dim: int, llm_dim: int):
        super().__init__()
        self.proj = nn.Linear(media_dim, llm_dim)

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        return self.proj(media)


def prepend_prefix(
    prefix: torch.Tensor,
    text_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """[prefix; text] embeddings (B, N+T, D), mask (B, N+T) and labels with prefix ignored.

    Text arrives left-padded and starts with BOS; each row is reordered to
    [padding][BOS][prefix][rest of text], the order LLaVA-style prefix models use.
    """
    batch, n_prefix = prefix.shape[:2]
    embeds = torch.cat([prefix.to(text_embeds.dtype), text_embeds], dim=1)
    mask = torch.cat([attention_mask.new_ones(batch, n_prefix), attention_mask], dim=1)
    # sort key: pad 0, BOS 1, prefix 2, text 3; a stable sort keeps order within each group
    first_real = attention_mask.cumsum(dim=1) == 1
    text_key = 3 * attention_mask - 2 * (first_real & attention_mask.bool()).long()
    key = torch.cat([attention_mask.new_full((batch, n_prefix), 2), text_key], dim=1)
    order = torch.argsort(key, dim=1, stable=True)
    embeds = embeds.gather(1, order.unsqueeze(-1).expand_as(embeds))
    mask = mask.gather(1, order)
    if labels is None:
        return embeds, mask, None
    labels = torch.cat([labels.new_full((batch, n_prefix), IGNORE_INDEX), labels], dim=1)
    return embeds, mask, labels.gather(1, order)
