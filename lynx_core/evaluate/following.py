"""Instruction following on held-out length instructions: the multimodal model, and its own
frozen LLM reading a description of each image instead.

The paper's first conclusion is that multimodal LLMs follow instructions worse than the LLMs
they are built on. Both sides get the same Open-VQA image questions with the same held-out
"one word" / "in detail" instructions (`lynx_core.data.prompts`); the LLM reads the image's
description in words where the multimodal model sees the image, as the toy Vicuna was
instruction-tuned. Every answer is kept with its word count, compliance and correctness, so
tables can re-derive the metrics (e.g. a bootstrap over questions). Not here: what the
instructions are, or how compliance is decided (`lynx_core.evaluate.instructions`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lynx_core.config import EvalConfig
from lynx_core.data.dialogue import DialogueTemplate
from lynx_core.data.examples import Example
from lynx_core.data.prompts import LENGTH_INSTRUCTIONS
from lynx_core.evaluate import rule_judge
from lynx_core.evaluate.instructions import LengthInstruction, compliance, complies, words
from lynx_core.evaluate.openvqa import decode_answers
from lynx_core.train.distributed import SINGLE, Ranks
from lynx_core.train.runtime import CPU, Runtime

KINDS: tuple[tuple[str, LengthInstruction], ...] = (("short", "one_word"), ("long", "detailed"))


def length_instructed(
    examples: Sequence[Example], count: int
) -> tuple[list[Example], list[LengthInstruction]]:
    """The first `count` examples asked again with each held-out length instruction."""
    base = list(examples[:count])
    asked: list[Example] = []
    kinds: list[LengthInstruction] = []
    for length, kind in KINDS:
        instruction = LENGTH_INSTRUCTIONS[length][-1]  # the held-out one
        asked += [replace(e, prompt=f"{e.prompt} {instruction}") for e in base]
        kinds += [kind] * len(base)
    return asked, kinds


def score_following(
    split: str,
    asked: Sequence[Example],
    kinds: Sequence[LengthInstruction],
    answers: Sequence[str],
    detailed_min_words: int,
) -> tuple[dict[str, float], list[dict]]:
    """`<split>/one_word|detailed|overall` compliance (%), `<kind>_correct` (%), `_n`, and
    `detailed_words` (mean words of answers asked for detail), with one record per answer."""
    found = compliance(answers, kinds, detailed_min_words)
    metrics = {k.replace("compliance/", f"{split}/", 1): v for k, v in found.items()}
    records = [
        {
            "split": split,
            "instruction": kind,
            "media": e.media,
            "question": e.prompt,
            "answer": e.accepted,
            "prediction": a,
            "words": words(a),
            "complies": complies(a, kind, detailed_min_words),
            "correct": rule_judge.judge(a, e.accepted),
        }
        for e, a, kind in zip(asked, answers, kinds, strict=True)
    ]
    for _, kind in KINDS:
        mine = [r for r in records if r["instruction"] == kind]
        if mine:
            metrics[f"{split}/{kind}_correct"] = 100.0 * statistics.fmean(
                r["correct"] for r in mine
            )
    detailed = [r["words"] for r in records if r["instruction"] == "detailed"]
    if detailed:
        metrics[f"{split}/detailed_words"] = statistics.fmean(detailed)
    return metrics, records


@torch.no_grad()
def llm_answers(
    llm: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    template: DialogueTemplate,
    examples: Sequence[Example],
    cfg: EvalConfig,
    runtime: Runtime = CPU,
    ranks: Ranks = SINGLE,
) -> list[str]:
    """The bare LLM's answers to text-only examples (their `context` holds the description)."""
    llm.eval()

    def generate(batch: dict[str, torch.Tensor], **settings) -> torch.Tensor:
        ids = batch["input_ids"]
        out = llm.generate(input_ids=ids, attention_mask=batch["attention_mask"], **settings)
        return out[:, ids.shape[1] :]  # left-padded: every prompt ends where the answers begin

    return decode_answers(examples, tokenizer, template, cfg, generate, runtime, ranks=ranks)
