"""The language model and its tokenizer: a local HF checkpoint, or a tiny LLaMA for toy scale.

Paper scale loads LLaMA-7B / Vicuna-7B with `from_pretrained(path)` (never from a hub); toy
scale builds a small `LlamaForCausalLM` and a word-level tokenizer over the synthetic world's
vocabulary, so the same model code runs on a CPU in minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from lynx_core.config import LLMConfig

SPECIAL_TOKENS = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}
MAX_POSITIONS = 256


def build_word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerBase:
    """Word-level tokenizer over a closed vocabulary (toy scale); punctuation splits off."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS.values())}
    for word in sorted(set(words) - set(vocab)):
        vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL_TOKENS["unk"]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **{f"{role}_token": token for role, token in SPECIAL_TOKENS.items()},
        padding_side="left",
    )


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:  # LLaMA ships without one
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


def build_llm(cfg: LLMConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A local checkpoint when `cfg.path` is set, else a tiny randomly initialised LLaMA."""
    if cfg.path is not None:
        return AutoModelForCausalLM.from_pretrained(cfg.path)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def decoder_layers(llm: PreTrainedModel):
    """The `nn.ModuleList` of decoder layers of a LLaMA-family causal LM."""
    return llm.get_decoder().layers
