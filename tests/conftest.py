"""Shared fixtures: tiny tokenizer, LLM and vision tower built in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lynx_core.config import ModelConfig
from lynx_core.data.toyworld import make_world, vocabulary
from lynx_core.model.llm import build_llm, build_word_tokenizer
from lynx_core.model.vision import build_vision_tower

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tokenizer():
    return build_word_tokenizer(vocabulary())


@pytest.fixture(scope="session")
def world():
    return make_world(seed=0, n_images=16)


@pytest.fixture
def build_parts(tokenizer):
    """(vision tower, llm) for a model config, deterministic per seed."""

    def build(cfg: ModelConfig, seed: int = 0):
        torch.manual_seed(seed)
        return build_vision_tower(cfg.vision), build_llm(cfg.llm, tokenizer)

    return build
