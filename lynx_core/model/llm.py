"""The language model and its tokenizer: a local HF checkpoint, or a tiny LLaMA for toy scale.

Paper scale loads LLaMA-7B / Vicuna-7B with `from_pretrained(path)` (never from a hub); toy
scale builds a small `LlamaForCausalLM` and a word-level tokenizer over the synthetic world's
vocabulary, so the same model code runs on a CPU in minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from lynx_core.config import LLMConfig, LoraConfig
from lynx_core.unpickle import tensors_only

SPECIAL_TOKENS = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}
IMAGE_TOKEN = "<image>"
MAX_POSITIONS = 2048
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerBase:
    """Word-level tokenizer over a closed vocabulary (toy scale); punctuation splits off."""
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS.values(), IMAGE_TOKEN])}
    for word in sorted(set(words) - set(vocab)):
        vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk"]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **{f"{role}_token": token for role, token in SPECIAL_TOKENS.items()},
        additional_special_tokens=[IMAGE_TOKEN],
        padding_side="left",
    )


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:  # LLaMA ships without one
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


def build_llm(cfg: LLMConfig, tokenizer: PreTrainedTokenizerBase | None) -> PreTrainedModel:
    """A local checkpoint when `cfg.path` is set, else a randomly initialised LLaMA of cfg's size.

    The random one takes its vocabulary from `cfg.vocab_size` or the tokenizer, so a paper-size
    model can be built on the meta device for parameter counts without any weights.
    """
    dtype = DTYPES[cfg.dtype]
    if cfg.path is not None:
        with tensors_only(cfg.path):
            return AutoModelForCausalLM.from_pretrained(
                cfg.path, dtype=dtype, attn_implementation=cfg.attn_implementation
            )
    special = {
        f"{role}_token_id": getattr(tokenizer, f"{role}_token_id", None)
        for role in ("pad", "bos", "eos")
    }
    config = LlamaConfig(
        vocab_size=cfg.vocab_size or len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=False,
        attn_implementation=cfg.attn_implementation,
        **special,
    )
    return LlamaForCausalLM(config).to(dtype)


def add_lora(llm: PreTrainedModel, cfg: LoraConfig) -> None:
    """Inject LoRA weights into the LLM in place (peft); only they become trainable."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    peft_cfg = PeftLoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
    )
    inject_adapter_in_model(peft_cfg, llm)
    for name, param in llm.named_parameters():
        param.requires_grad_("lora_" in name)


def decoder_layers(llm: PreTrainedModel) -> nn.ModuleList:
    """The decoder layers the model actually has, where adapters and cross-attention go: the
    one `nn.ModuleList` of `num_hidden_layers` blocks in its module tree (`model.layers` in
    LLaMA, Gemma, Qwen and Mistral; `transformer.h` in GPT-2), not a LLaMA attribute path."""
    count = llm.config.get_text_config().num_hidden_layers
    decoder = getattr(llm.get_decoder(), "layers", None) if hasattr(llm, "get_decoder") else None
    if isinstance(decoder, nn.ModuleList) and len(decoder) == count:
        return decoder  # the usual place, whatever else holds as many modules
    found = [m for m in llm.modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if len(found) != 1:
        raise ValueError(
            f"{type(llm).__name__} has {len(found)} module lists of {count} blocks "
            f"(num_hidden_layers) where its decoder layers should be one: adapters and "
            "cross-attention cannot be placed; use model.arch: prefix without adapters"
        )
    return found[0]


def word_embedding_std(llm: PreTrainedModel) -> float:
    """The per-dimension spread of what the LLM's input embedding gives a word: the scale a
    prefix of visual tokens is held at. The weight's spread times what the embedding module
    multiplies its rows by on the way out (1 for LLaMA or Qwen, √width for Gemma), so a
    family that scales its embeddings gets a prefix at its words' scale. 0.02 for a model
    built on the meta device (planning: no values)."""
    embed = llm.get_input_embeddings()
    weight = embed.weight.detach()
    if weight.is_meta:
        return 0.02
    ids = torch.arange(min(8, weight.shape[0]), device=weight.device)
    with torch.no_grad():
        scale = embed(ids).float().norm() / weight[ids].float().norm()
    return weight.float().std().item() * scale.item()
