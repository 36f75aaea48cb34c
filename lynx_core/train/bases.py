"""Bases: the frozen LLM and tokenizer that every variant builds on.

At toy scale the tiny LLaMA is pretrained on the world's text (prompt format and answer
vocabulary, no images), so that a frozen LLM is a language model rather than noise. With
`llm.path` set, the user's checkpoint is the base and nothing is trained here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from lynx_core.atomic import write_dir
from lynx_core.config import VariantConfig
from lynx_core.data.batches import batch_indices, collate
from lynx_core.data.toyworld import text_corpus, vocabulary
from lynx_core.model.llm import build_llm, build_word_tokenizer, load_tokenizer
from lynx_core.train.loop import LogFn, Record, train_stage

log = logging.getLogger(__name__)
CORPUS_LINES = 4096


def pretrain_toy_llm(
    cfg: VariantConfig, on_log: LogFn | None = None, checkpoint: Path | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, list[Record]]:
    """Tokenizer and tiny LLaMA trained on text-only lines of the world, and the loss curve."""
    torch.manual_seed(cfg.train.seed)
    tokenizer = build_word_tokenizer(vocabulary())
    llm = build_llm(cfg.model.llm, tokenizer)
    corpus = text_corpus(cfg.data.seed, CORPUS_LINES)
    stage = cfg.train.bases

    def step_loss(step: int) -> torch.Tensor:
        rows = batch_indices(len(corpus), stage.batch_size, step, cfg.train.seed)
        batch = collate([corpus[i] for i in rows], None, tokenizer, 0)
        return llm(**batch).loss

    llm.train()
    history = train_stage(
        step_loss,
        list(llm.parameters()),
        stage,
        stage="bases",
        log_every=cfg.train.log_every,
        on_log=on_log,
        checkpoint=checkpoint,
        checkpoint_every=cfg.train.checkpoint_every,
    )
    return tokenizer, llm, history


def prepare_bases(cfg: VariantConfig, out: Path, on_log: LogFn | None = None) -> list[Record]:
    """Train the toy bases into `out/llm` (resuming from `out/bases.ckpt`); a no-op with a path."""
    if cfg.model.llm.path is not None:
        return []
    log.info("pretraining toy LLM into %s", out)
    tokenizer, llm, history = pretrain_toy_llm(cfg, on_log, out / "bases.ckpt")

    def save(tmp: Path) -> None:
        tokenizer.save_pretrained(tmp)
        llm.save_pretrained(tmp)

    write_dir(out / "llm", save)
    return history


def load_bases(cfg: VariantConfig, out: Path) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer and frozen LLM that `prepare_bases` left in `out` (or the user's path)."""
    if cfg.model.llm.path is not None:
        return load_tokenizer(cfg.model.llm.path), build_llm(cfg.model.llm, None)
    return load_tokenizer(out / "llm"), AutoModelForCausalLM.from_pretrained(out / "llm")
