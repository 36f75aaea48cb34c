"""Bases: the frozen LLM and tokenizer that every variant builds on.

At toy scale the tiny LLaMA is pretrained on the world's text (prompt format and answer
vocabulary, no images), so that a frozen LLM is a language model rather than noise. With
`llm.path` set, the user's checkpoint is the base and nothing is trained here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from lynx_core.atomic import write_dir
from lynx_core.config import VariantConfig, config_hash
from lynx_core.data.batches import batch_indices, collate
from lynx_core.data.toyworld import text_corpus, vocabulary
from lynx_core.model.llm import build_llm, build_word_tokenizer, load_tokenizer
from lynx_core.train.loop import LogFn, train_stage

log = logging.getLogger(__name__)
CORPUS_LINES = 4096


class BasesKey(BaseModel):
    """The part of a variant's config that determines its bases."""

    llm: dict
    data_seed: int
    bases: dict
    seed: int


def bases_key(cfg: VariantConfig) -> str:
    key = BasesKey(
        llm=cfg.model.llm.model_dump(mode="json", exclude={"trainable"}),
        data_seed=cfg.data.seed,
        bases=cfg.train.bases.model_dump(mode="json"),
        seed=cfg.train.seed,
    )
    return config_hash(key)


def pretrain_toy_llm(cfg: VariantConfig, on_log: LogFn | None = None):
    """Tokenizer and tiny LLaMA trained on text-only lines of the world."""
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
    train_stage(
        step_loss,
        list(llm.parameters()),
        stage,
        stage="bases",
        log_every=cfg.train.log_every,
        on_log=on_log,
    )
    return tokenizer, llm


def ensure_bases(
    cfg: VariantConfig, root: Path, on_log: LogFn | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Load the variant's bases from `root/<key>`, training and saving them on first use."""
    if cfg.model.llm.path is not None:
        return load_tokenizer(cfg.model.llm.path), build_llm(cfg.model.llm, None)
    folder = root / bases_key(cfg)
    if not folder.exists():
        log.info("pretraining toy LLM into %s", folder)
        tokenizer, llm = pretrain_toy_llm(cfg, on_log)

        def save(tmp: Path) -> None:
            tokenizer.save_pretrained(tmp)
            llm.save_pretrained(tmp)

        write_dir(folder, save)
    return load_tokenizer(folder), AutoModelForCausalLM.from_pretrained(folder)
