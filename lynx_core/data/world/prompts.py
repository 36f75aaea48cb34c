"""Instruction templates: one per task, or a diverse set, both with length instructions.

Each task has ≥ 12 paraphrases of its question. The first is the task's *single* template (the
paper's "w/o diverse prompts" ablation trains on it alone); training in `diverse` mode uses
every paraphrase but the last `HELD_OUT` ones. In both modes a share of prompts
(`length_instruction_rate`) carries a length instruction that decides whether the answer is
one word or a full sentence: `single` always writes one fixed wording per length, `diverse`
any of the trained wordings, so the two modes train the same length instructions at the same
rate, with the same answers, and differ only in how diversely they are phrased. The held-out
paraphrases and the held-out length instructions are seen only at evaluation, so both modes
are tested on phrasings they never trained on, and length compliance is measured on
instructions the model never saw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lynx_core.data.examples import Length

if TYPE_CHECKING:  # config validates task names against lynx_core.data.world.tasks, which uses this
    from lynx_core.config import PromptConfig

HELD_OUT = 2  # last paraphrases of every task, never trained on
HELD_OUT_INSTRUCTIONS = 3  # last wordings of each length instruction, never trained on

LENGTH_INSTRUCTIONS: dict[Length, tuple[str, ...]] = {
    "short": (
        "answer in one word .",
        "use a single word .",
        "be brief .",
        "one word only .",
        "reply with one word .",  # held out (the last three): several, so that compliance
        "just one word .",  # measures following a kind of instruction, not how one wording
        "in a single word .",  # happens to be read
    ),
    "long": (
        "explain in detail .",
        "answer with a full sentence .",
        "give a complete answer .",
        "describe it fully .",
        "please answer in detail .",  # held out
        "write a full sentence .",
        "tell me in detail .",
    ),
}


def held_out_instructions(length: Length) -> tuple[str, ...]:
    """The wordings of a length instruction that only evaluation uses."""
    return LENGTH_INSTRUCTIONS[length][-HELD_OUT_INSTRUCTIONS:]


MME_SUFFIX = "please answer yes or no ."  # MME's own format instruction


@dataclass(frozen=True)
class Prompt:
    """A question as the model reads it, and which answer form it asks for."""

    text: str
    length: Length
    instruction: Length | None = None  # the explicit length instruction, if any


def trained_paraphrases(paraphrases: tuple[str, ...], cfg: PromptConfig) -> tuple[str, ...]:
    return paraphrases[:1] if cfg.mode == "single" else paraphrases[:-HELD_OUT]


def trained_instructions(length: Length, cfg: PromptConfig) -> tuple[str, ...]:
    """The wordings of a length instruction training uses: one fixed wording in single mode,
    every one but the held-out last ones in diverse mode."""
    wordings = LENGTH_INSTRUCTIONS[length][:-HELD_OUT_INSTRUCTIONS]
    return wordings[:1] if cfg.mode == "single" else wordings


def training_prompt(paraphrases: tuple[str, ...], cfg: PromptConfig, rng: random.Random) -> Prompt:
    """A training prompt for one example: a trained paraphrase, at `length_instruction_rate`
    followed by a length instruction (short answers are the default, as in VQA data). The
    random draws are the same in both modes, so single and diverse prompts ask for the same
    lengths of the same examples."""
    question = _pick(trained_paraphrases(paraphrases, cfg), rng)
    if rng.random() >= cfg.length_instruction_rate:
        return Prompt(question, "short")
    length: Length = _pick(("short", "long"), rng)
    instruction = _pick(trained_instructions(length, cfg), rng)
    return Prompt(f"{question} {instruction}", length, length)


def _pick(options: tuple[str, ...], rng: random.Random):
    """One of `options` from exactly one draw, however many there are (`random.choice`
    draws more for some lengths), so both modes consume the generator alike."""
    return options[int(rng.random() * len(options))]


def held_out_prompt(
    paraphrases: tuple[str, ...], rng: random.Random, instruction: Length | None = None
) -> Prompt:
    """An evaluation prompt built only from what training never shows."""
    question = rng.choice(paraphrases[-HELD_OUT:])
    if instruction is None:
        return Prompt(question, "short")
    wording = rng.choice(held_out_instructions(instruction))
    return Prompt(f"{question} {wording}", instruction, instruction)


def all_prompt_text(paraphrases: tuple[str, ...]) -> list[str]:
    """Every string a task's prompts can contain (for the toy vocabulary)."""
    return [*paraphrases, *(i for kind in LENGTH_INSTRUCTIONS.values() for i in kind), MME_SUFFIX]
