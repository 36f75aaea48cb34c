"""How visual tokens enter the LLM: one registered implementation per `model.arch` value.

An injector is built once around the LLM (it may wrap decoder layers) and, per batch, turns
(visual tokens, text embeddings, mask, media anchor, labels) into what the LLM consumes.
`prefix` puts the tokens in the sequence; `cross_attention` hands them to gated
cross-attention layers. Adding an architecture = one class here + one registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from lynx_core.config import ModelConfig
from lynx_core.model.cross_attention import MediaSlot, attach_cross_attention
from lynx_core.model.llm import decoder_layers, word_embedding_std
from lynx_core.model.prefix import PrefixProjector, insert_prefix

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # embeds, mask, labels


class PrefixInjector(nn.Module):
    def __init__(self, media_dim: int, llm_dim: int, embedding_std: float = 0.02):
        super().__init__()
        self.projector = PrefixProjector(media_dim, llm_dim, embedding_std)

    @contextmanager
    def inject(self, media, embeds, mask, anchor, placeholder, labels=None) -> Iterator[Batch]:
        yield insert_prefix(self.projector(media), embeds, mask, anchor, placeholder, labels)


class CrossAttentionInjector(nn.Module):
    def __init__(self, layers: nn.ModuleList, media_dim: int, llm_dim: int, cfg: ModelConfig):
        super().__init__()
        self.slot = MediaSlot()
        self.layer_indices = attach_cross_attention(
            layers, llm_dim, media_dim, cfg.cross_attention, self.slot
        )

    @contextmanager
    def inject(self, media, embeds, mask, anchor, placeholder, labels=None) -> Iterator[Batch]:
        positions = torch.arange(mask.shape[1], device=mask.device)
        self.slot.tokens = media
        self.slot.visible = (positions.unsqueeze(0) > anchor.unsqueeze(1)) & mask.bool()
        try:
            yield embeds, mask, labels
        finally:  # never leave stale media for a later text-only call
            self.slot.tokens = self.slot.visible = None


def build_cross_attention(llm, media_dim: int, cfg: ModelConfig) -> nn.Module:
    return CrossAttentionInjector(decoder_layers(llm), media_dim, llm.config.hidden_size, cfg)


def build_prefix(llm, media_dim: int, cfg: ModelConfig) -> nn.Module:
    return PrefixInjector(media_dim, llm.config.hidden_size, word_embedding_std(llm))


InjectorBuilder = Callable[[nn.Module, int, ModelConfig], nn.Module]

INJECTORS: dict[str, InjectorBuilder] = {
    "prefix": build_prefix,
    "cross_attention": build_cross_attention,
}
