"""Instruction following on held-out length instructions: the multimodal model, and its own
frozen LLM reading a description of each image instead.

The paper's first conclusion is that multimodal LLMs follow instructions worse than the LLMs
they are built on. Both sides get the same Open-VQA image questions with the same held-out
"one word" / "in detail" instructions (`lynx_core.data.world.prompts`); the LLM reads the image's
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

from lynx_core.compute.ranks import SINGLE, Ranks
from lynx_core.compute.runtime import CPU, Runtime
from lynx_core.config import EvalConfig
from lynx_core.data.dialogue import DialogueTemplate
from lynx_core.data.examples import Example
from lynx_core.data.world.prompts import held_out_instructions
from lynx_core.evaluate import rule_judge
from lynx_core.evaluate.instructions import LengthInstruction, compliance, complies, words
from lynx_core.evaluate.openvqa import decode_answers

KINDS: tuple[tuple[str, LengthInstruction], ...] = (("short", "one_word"), ("long", "detailed"))


def spread(examples: Sequence[Example], count: int) -> list[Example]:
    """`count` examples, one question of every image before a second of any, so they are
    about as many different images as they can be (questions about one image are not
    independent evidence); image j starts at its question j (mod its number), so the kinds
    of question rotate instead of every image giving its first."""
    by_media: dict[int, list[Example]] = {}
    for example in examples:
        by_media.setdefault(example.media, []).append(example)
    rounds = max((len(found) for found in by_media.values()), default=0)
    ordered = [
        found[(j + r) % len(found)]
        for r in range(rounds)
        for j, found in enumerate(by_media.values())
        if r < len(found)
    ]
    return ordered[:count]


def length_instructed(
    examples: Sequence[Example], count: int
) -> tuple[list[Example], list[LengthInstruction]]:
    """`count` examples, spread over the images, asked again with each kind of held-out length
    instruction, its held-out wordings in turn."""
    base = spread(examples, count)
    asked: list[Example] = []
    kinds: list[LengthInstruction] = []
    for length, kind in KINDS:
        wordings = held_out_instructions(length)
        asked += [
            replace(e, prompt=f"{e.prompt} {wordings[i % len(wordings)]}")
            for i, e in enumerate(base)
        ]
        kinds += [kind] * len(base)
    return asked, kinds


def score_following(
    split: str,
    asked: Sequence[Example],
    kinds: Sequence[LengthInstruction],
    answers: Sequence[str],
    detailed_min_words: int,
    judge: rule_judge.RuleJudge | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """`<split>/one_word|detailed|overall` compliance (%), `<kind>_correct` (%), `_n`, and
    `detailed_words` (mean words of answers asked for detail), with one record per answer;
    `judge` (the benchmark's rule judge, hedges included) decides correctness."""
    judge = judge or rule_judge.RuleJudge()
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
            "correct": judge(a, e.accepted, e.category),
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
