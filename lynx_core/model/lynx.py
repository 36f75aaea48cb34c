"""LynxModel: frozen vision tower → connector → injector → (frozen) causal LM.

Assembles the components named by a `ModelConfig` around any transformers causal LM. The
connector (Lynx's perceiver resampler, LLaVA's MLP projector or pooled patches) is registered
under its own name (`resampler.*`, `mlp.*`, `avg_pool.*` in saved weights). Only the
connector, the frame embedding, the injector's modules and adapters train, unless the LLM is
unfrozen (`llm.trainable`) or given LoRA weights (`llm.lora`). Not here: tokenisation, data
and the training loop.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lynx_core.atomic import write_with
from lynx_core.config import ModelConfig
from lynx_core.model.adapters import attach_adapters
from lynx_core.model.connectors import CONNECTORS
from lynx_core.model.injectors import INJECTORS
from lynx_core.model.llm import add_lora, build_llm, decoder_layers
from lynx_core.model.vision import VisionTower, build_vision_tower


def media_anchor(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, image_token_id: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the last position before the media (B,) and the placeholder mask (B, T).

    The media follow the `<image>` placeholder's predecessor when the prompt has one, else the
    first real token (BOS), so the whole instruction comes after the image as in Lynx.
    """
    first_real = attention_mask.long().argmax(dim=1)  # left padding: first 1
    if image_token_id is None:
        return first_real, torch.zeros_like(input_ids, dtype=torch.bool)
    placeholder = input_ids == image_token_id
    count = placeholder.sum(dim=1)
    if (count > 1).any():
        raise ValueError("a prompt may hold at most one image placeholder")
    anchor = torch.where(count > 0, placeholder.long().argmax(dim=1) - 1, first_real)
    return anchor, placeholder


class LynxModel(nn.Module):
    def __init__(
        self,
        cfg: ModelConfig,
        vision: VisionTower,
        llm: PreTrainedModel,
        image_token_id: int | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.image_token_id = image_token_id
        self.vision = vision
        self.llm = llm.requires_grad_(cfg.llm.trainable)  # before new modules are attached
        if cfg.llm.lora is not None:
            add_lora(llm, cfg.llm.lora)
        # registered under its own name, so saved weights say which connector they are
        self.connector_name = cfg.connector
        self.add_module(cfg.connector, CONNECTORS[cfg.connector](vision, cfg))
        llm_dim = llm.config.hidden_size
        layers = decoder_layers(llm)
        self.adapter_layers = attach_adapters(layers, llm_dim, cfg.adapters)
        self.injector = INJECTORS[cfg.arch](llm, self.connector.out_dim, cfg)
        keep_fp32_masters(self.trainable_parameters())

    @property
    def connector(self) -> nn.Module:
        return getattr(self, self.connector_name)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each LLM layer's activations in the backward pass instead of keeping
        them (`train.gradient_checkpointing`): memory stops growing with depth, for about a
        third more compute. Non-reentrant, so it works with a frozen LLM whose inputs carry
        no gradient, and gives the same gradients (tested)."""
        self.llm.activation_checkpointing_enable({"use_reentrant": False})
        # (which also makes embedding outputs require gradients, needed only by reentrant
        # checkpointing; without it a text-only batch through a frozen LLM stays backward-free)
        self.llm.disable_input_require_grads()

    def encode_media(
        self, pixels: torch.Tensor | None, patches: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Image (B, 3, H, W) or video (B, T, 3, H, W) → (B, N, connector.out_dim): N is the
        resampler's query count, or per frame the patches (mlp) or pooled cells (avg_pool).

        `patches` are the frozen trunk's tokens computed earlier (`VisionTower.trunk_tokens`,
        e.g. from a feature cache); when given, the trunk is skipped.
        """
        return self.connector(self.vision(pixels, patches))

    def _inject(self, pixels, input_ids, attention_mask, labels=None, patches=None):
        embeds = self.llm.get_input_embeddings()(input_ids)  # (B, T, llm_dim)
        media = self.encode_media(pixels, patches).to(embeds.dtype)
        anchor, placeholder = media_anchor(input_ids, attention_mask, self.image_token_id)
        return self.injector.inject(media, embeds, attention_mask, anchor, placeholder, labels)

    def forward(self, input_ids, attention_mask, labels=None, pixels=None, patches=None):
        """Causal-LM output; `loss` covers only positions whose label is not -100. Without
        media (text-only instructions) the LLM and its adapters see the text alone."""
        # no KV cache: a forward pass never reuses one (`generate` keeps its own), and a
        # training step would otherwise hold every layer's keys and values until it ends
        if pixels is None and patches is None:
            return self.llm(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels, use_cache=False
            )
        injected = self._inject(pixels, input_ids, attention_mask, labels, patches)
        with injected as (embeds, mask, labels):
            return self.llm(
                inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False
            )

    @torch.no_grad()
    def generate(
        self, pixels, input_ids, attention_mask, patches=None, **generate_kwargs
    ) -> torch.Tensor:
        """New tokens only (B, ≤ max_new_tokens), via the LLM's own `generate()` and KV cache."""
        with self._inject(pixels, input_ids, attention_mask, patches=patches) as (embeds, mask, _):
            return self.llm.generate(inputs_embeds=embeds, attention_mask=mask, **generate_kwargs)

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The weights training updates, by name, in `parameters()` order."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.trainable_named_parameters()]

    def parameter_counts(self) -> dict[str, int]:
        def count(params) -> int:
            return sum(p.numel() for p in params)

        return {
            "total": count(self.parameters()),
            "trainable": count(self.trainable_parameters()),
            "vision": count(self.vision.visual.parameters()),
            "llm": count(p for n, p in self.llm.named_parameters() if not _is_added(n)),
            "connector": count(self.connector.parameters()),
        }

    def save_trainable(self, path: Path) -> None:
        """Only the trained weights: the frozen parts come from their own checkpoints."""
        state = {n: p.detach().contiguous() for n, p in self.trainable_named_parameters()}
        write_with(path, lambda tmp: save_file(state, str(tmp)))

    def load_trainable(self, path: Path) -> None:
        result = self.load_state_dict(load_file(str(path)), strict=False)
        if result.unexpected_keys:
            raise KeyError(
                f"{path} holds weights this model does not have: "
                f"{sorted(result.unexpected_keys)[:5]}"
            )
        expected = {n for n, _ in self.trainable_named_parameters()}
        missing = expected & set(result.missing_keys)
        if missing:
            raise KeyError(f"{path} lacks trainable weights: {sorted(missing)[:5]}")


def keep_fp32_masters(params: list[nn.Parameter]) -> None:
    """Trainable weights are kept in fp32 whatever the LLM's storage dtype (`llm.dtype`):
    compute runs in bf16 under autocast, but an AdamW update on a bf16 weight smaller than
    half its spacing (2^-8 of it) rounds away, so a trainable LLM stored in bf16 would
    silently stop learning at small learning rates. Frozen weights keep their dtype."""
    for param in params:
        if param.dtype != torch.float32:
            param.data = param.data.float()


def _is_added(name: str) -> bool:
    """Parameters that Lynx adds inside the LLM's module tree (not the LLM's own)."""
    return any(part in name for part in (".adapter.", ".xattn.", "lora_"))


def image_token_id(tokenizer: PreTrainedTokenizerBase | None, token: str) -> int | None:
    """The placeholder's id, or None when the tokenizer has no such token (media after BOS)."""
    if tokenizer is None or token not in tokenizer.get_vocab():
        return None
    return tokenizer.convert_tokens_to_ids(token)


def build_lynx(
    cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase | None, llm: PreTrainedModel | None = None
) -> LynxModel:
    """Vision tower, LLM (given, or built from config) and the chosen architecture."""
    llm = llm if llm is not None else build_llm(cfg.llm, tokenizer)
    return LynxModel(
        cfg, build_vision_tower(cfg.vision), llm, image_token_id(tokenizer, cfg.image_token)
    )
