"""Shared fixtures: tiny tokenizer, LLM and vision tower built in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from lynx_core.config import ModelConfig, PromptConfig
from lynx_core.data.batches import collate, to_pixels
from lynx_core.data.dialogue import TEMPLATES
from lynx_core.data.examples import Example
from lynx_core.data.stage_data import CAPTION_PROMPT, task_examples, vocabulary
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.render import render
from lynx_core.model.llm import build_llm, build_word_tokenizer
from lynx_core.model.vision import build_vision_tower

REPO = Path(__file__).resolve().parents[1]
LYNX = TEMPLATES["lynx"]


@pytest.fixture(scope="session")
def tokenizer():
    return build_word_tokenizer(vocabulary())


@dataclass
class ToySample:
    """A few rendered scenes with questions and captions, for model-level tests."""

    images: np.ndarray
    scenes: list[tw.Scene]

    def questions(self) -> list[Example]:
        single = PromptConfig(mode="single")
        return [
            e
            for task in ("color", "count", "shape")
            for e in task_examples(task, self.scenes, single, 0)
        ]

    def captions(self) -> list[Example]:
        return [
            Example(i, "image", CAPTION_PROMPT, s.caption(), "Caption")
            for i, s in enumerate(self.scenes)
        ]

    def batch(self, examples, tokenizer, size: int = 32, with_answers: bool = True):
        pixels = to_pixels(self.images[[e.media for e in examples]], size)
        return collate(examples, tokenizer, LYNX, pixels, with_answers=with_answers)


@pytest.fixture(scope="session")
def world() -> ToySample:
    scenes = tw.sample_scenes(0, 16, "tasks")
    return ToySample(np.stack([render(s) for s in scenes]), scenes)


@pytest.fixture
def build_parts(tokenizer):
    """(vision tower, llm) for a model config, deterministic per seed."""

    def build(cfg: ModelConfig, seed: int = 0):
        torch.manual_seed(seed)
        return build_vision_tower(cfg.vision), build_llm(cfg.llm, tokenizer)

    return build
