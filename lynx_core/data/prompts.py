"""Instruction templates: one per task, or a diverse set with length instructions.

Each task has ≥ 12 paraphrases of its question. The first is the task's *single* template (the
paper's "w/o diverse prompts" ablation trains on it alone); training in `diverse` mode uses
every paraphrase but the last `HELD_OUT` ones, each optionally followed by a length
instruction that decides whether the answer is one word or a full sentence. The held-out
paraphrases and the held-out length instructions are seen only at evaluation, so both modes
are tested on phrasings they never trained on, and length compliance is measured on
instructions the model never saw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lynx_core.data.examples import Length

if TYPE_CHECKING:  # config validates task names against lynx_core.data.tasks, which uses this
    from lynx_core.config import PromptConfig

HELD_OUT = 2  # last paraphrases of every task, never trained on

LENGTH_INSTRUCTIONS: dict[Length, tuple[str, ...]] = {
    "short": (
        "answer in one word .",
        "use a single word .",
        "be brief .",
        "one word only .",
        "reply with one word .",  # held out
    ),
    "long": (
        "explain in detail .",
        "answer with a full sentence .",
        "give a complete answer .",
        "describe it fully .",
        "please answer in detail .",  # held out
    ),
}
MME_SUFFIX = "please answer yes or no ."  # MME's own format instruction


@dataclass(frozen=True)
class Prompt:
    """A question as the model reads it, and which answer form it asks for."""

    text: str
    length: Length
    instruction: Length | None = None  # the explicit length instruction, if any


def trained_paraphrases(paraphrases: tuple[str, ...], cfg: PromptConfig) -> tuple[str, ...]:
    return paraphrases[:1] if cfg.mode == "single" else paraphrases[:-HELD_OUT]


def training_prompt(paraphrases: tuple[str, ...], cfg: PromptConfig, rng: random.Random) -> Prompt:
    """A training prompt for one example: the single template, or a paraphrase with maybe a
    length instruction (short answers are the default, as in VQA data)."""
    question = rng.choice(trained_paraphrases(paraphrases, cfg))
    if cfg.mode == "single" or rng.random() >= cfg.length_instruction_rate:
        return Prompt(question, "short")
    length: Length = rng.choice(("short", "long"))
    instruction = rng.choice(LENGTH_INSTRUCTIONS[length][:-1])
    return Prompt(f"{question} {instruction}", length, length)


def held_out_prompt(
    paraphrases: tuple[str, ...], rng: random.Random, instruction: Length | None = None
) -> Prompt:
    """An evaluation prompt built only from what training never shows."""
    question = rng.choice(paraphrases[-HELD_OUT:])
    if instruction is None:
        return Prompt(question, "short")
    return Prompt(f"{question} {LENGTH_INSTRUCTIONS[instruction][-1]}", instruction, instruction)


def all_prompt_text(paraphrases: tuple[str, ...]) -> list[str]:
    """Every string a task's prompts can contain (for the toy vocabulary)."""
    return [*paraphrases, *(i for kind in LENGTH_INSTRUCTIONS.values() for i in kind), MME_SUFFIX]
