"""The study's instruction templates for released datasets: the single-vs-diverse prompt axis
on real questions and captions, as `lynx_core.data.world.prompts` is on the generated world's.

A training file converted from a release holds each question as its annotators wrote it (VQA)
or one fixed instruction (captions). With `templates: true` on the file (`TrainFileConfig`),
each single-turn example is re-phrased when a batch draws it:

- a VQA question is wrapped in one of its role's templates (`{question}`, `Question:
  {question}`, `Look at the image and answer: {question}`, ...); a caption's instruction is
  replaced by one of the captioning templates ("Describe the image.", "What does this image
  show?", ...);
- at `data.prompts.length_instruction_rate`, a length instruction follows that matches the
  answer as released (a few words, one sentence, or more), since a real answer cannot be
  re-written to fit an instruction drawn at random.

`single` mode always takes the first template and the first wording of each length
instruction (the paper's Table 10 prompts: "[QUESTION] Give a short answer.", "Describe the
image briefly."); `diverse` any of them. The draws are the same in both modes (one draw per
choice, from a generator seeded by the example), so the two train the same examples with the
same length instructions at the same rate, and differ only in how diversely they are phrased.
Conversations and text-only instructions are trained as written (the paper's [DIALOG] and
[INSTRUCTION]), as is any turn that continues a conversation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from lynx_core.config import PromptConfig

AnswerLength = Literal["short", "sentence", "detailed"]
SHORT_WORDS, SENTENCE_WORDS = 3, 30  # the most words an answer of each length has

TEMPLATES: dict[str, tuple[str, ...]] = {  # the first is the single template
    "vqa": (
        "{question}",
        "Question: {question}",
        "{question} Answer from the {media}.",
        "Look at the {media} and answer: {question}",
        "Answer this question about the {media}: {question}",
        "Here is a question about the {media}. {question}",
        "Please answer the question. {question}",
        "Using what you see in the {media}, answer: {question}",
        "Q: {question} A:",
        "{question} Use the {media} to answer.",
        "I have a question about this {media}: {question}",
        "Read the {media} carefully. {question}",
    ),
    "captioning": (
        "Describe the {media}.",
        "What does this {media} show?",
        "Write a description of this {media}.",
        "Tell me what you see in the {media}.",
        "What is in this {media}?",
        "Caption this {media}.",
        "What is happening in this {media}?",
        "Give a description of the {media}.",
        "Explain what the {media} shows.",
        "Look at the {media} and describe it.",
        "What can you see in this {media}?",
        "Say what this {media} contains.",
    ),
}
LENGTH_WORDINGS: dict[AnswerLength, tuple[str, ...]] = {  # the first is the single wording
    "short": (
        "Give a short answer.",
        "Answer in a word or phrase.",
        "Answer briefly.",
        "Keep the answer short.",
        "Reply with a short phrase.",
    ),
    "sentence": (
        "Answer in one sentence.",
        "Reply in a single sentence.",
        "Give a one-sentence answer.",
        "Keep it to one sentence.",
        "Use one sentence.",
    ),
    "detailed": (
        "Answer in detail.",
        "Give a detailed answer.",
        "Explain in detail.",
        "Describe it fully.",
        "Give a complete answer.",
    ),
}


def answer_length(answer: str) -> AnswerLength:
    words = len(answer.split())
    if words <= SHORT_WORDS:
        return "short"
    return "sentence" if words <= SENTENCE_WORDS else "detailed"


@dataclass(frozen=True)
class FileTemplates:
    """How one training file's examples are phrased: its role's templates, the variant's
    prompt mode and length-instruction rate, and the seed that draws them."""

    role: str
    prompts: PromptConfig
    seed: int | str

    def phrase(self, question: str, answer: str, media: str, key: str) -> str:
        """The prompt for one example (`key` names it in its file, so an example is phrased
        the same way whenever it is drawn, and alike in both modes)."""
        rng = random.Random(f"{self.seed}:{key}")
        single = self.prompts.mode == "single"
        templates = TEMPLATES[self.role]
        template = _pick(templates[:1] if single else templates, rng)
        text = template.format(question=question.strip(), media=media)
        if rng.random() >= self.prompts.length_instruction_rate:
            return text
        wordings = LENGTH_WORDINGS[answer_length(answer)]
        return f"{text} {_pick(wordings[:1] if single else wordings, rng)}"


def _pick(options: tuple[str, ...], rng: random.Random) -> str:
    """One of `options` from exactly one draw, however many there are, so both modes consume
    the generator alike."""
    return options[int(rng.random() * len(options))]
