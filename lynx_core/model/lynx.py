"""LynxModel: frozen vision tower → perceiver resampler → injector → (frozen) causal LM.

Assembles the components named by a `ModelConfig` around any transformers causal LM. Only the
resampler, the injector's modules and adapters train unless `llm.trainable` is set. Not here:
tokenisation, data and the training loop.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedModel

from lynx_core.config import ModelConfig
from lynx_core.model.adapters import attach_adapters
from lynx_core.model.injectors import INJECTORS
from lynx_core.model.llm import decoder_layers
from lynx_core.model.resampler import PerceiverResampler
from lynx_core.model.vision import VisionTower


class LynxModel(nn.Module):
    def __init__(self, cfg: ModelConfig, vision: VisionTower, llm: PreTrainedModel):
        super().__init__()
        self.cfg = cfg
        self.vision = vision
        self.llm = llm.requires_grad_(cfg.llm.trainable)  # before new layers are attached
        self.resampler = PerceiverResampler(vision.width, cfg.resampler)
        llm_dim = llm.config.hidden_size
        layers = decoder_layers(llm)
        self.adapter_layers = attach_adapters(layers, llm_dim, cfg.adapters)
        self.injector = INJECTORS[cfg.arch](layers, cfg.resampler.dim, llm_dim, cfg)

    def encode_media(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → visual tokens (B, num_queries, resampler.dim)."""
        return self.resampler(self.vision(pixels))

    def forward(self, pixels, input_ids, attention_mask, labels=None):
        """Causal-LM output; `loss` covers only positions whose label is not -100."""
        embeds = self.llm.get_input_embeddings()(input_ids)  # (B, T, llm_dim)
        media = self.encode_media(pixels)
        with self.injector.inject(media, embeds, attention_mask, labels) as (emb, mask, lab):
            return self.llm(inputs_embeds=emb, attention_mask=mask, labels=lab)

    @torch.no_grad()
    def generate(self, pixels, input_ids, attention_mask, **generate_kwargs) -> torch.Tensor:
        """New tokens only (B, ≤ max_new_tokens), via the LLM's own `generate()` and KV cache."""
        embeds = self.llm.get_input_embeddings()(input_ids)
        media = self.encode_media(pixels)
        with self.injector.inject(media, embeds, attention_mask) as (emb, mask, _):
            return self.llm.generate(inputs_embeds=emb, attention_mask=mask, **generate_kwargs)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def parameter_counts(self) -> dict[str, int]:
        count = lambda params: sum(p.numel() for p in params)  # noqa: E731
        return {
            "total": count(self.parameters()),
            "trainable": count(self.trainable_parameters()),
            "vision": count(self.vision.parameters()),
            "resampler": count(self.resampler.parameters()),
        }

    def save_trainable(self, path: Path) -> None:
        """Only the trained weights: the frozen parts come from their own checkpoints."""
        state = {n: p.detach().contiguous() for n, p in self.named_parameters() if p.requires_grad}
        save_file(state, str(path))

    def load_trainable(self, path: Path) -> None:
        missing = set(self.load_state_dict(load_file(str(path)), strict=False).unexpected_keys)
        if missing:
            raise KeyError(f"{path} holds weights this model does not have: {sorted(missing)}")
