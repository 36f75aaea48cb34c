"""Open-VQA-style evaluation: generate an answer per question, judge it, count per class.

Scores are counted as the paper's tables do: per class correct/total, and Overall = all
correct / all questions (questions a GPT judge could not decide are left out of both); class
names enter metric names through `class_key`. Returns plain metrics and prediction records;
writes nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from lynx_core.compute.ranks import SINGLE, Ranks, dealt, gathered
from lynx_core.compute.runtime import CPU, Runtime
from lynx_core.config import EvalConfig
from lynx_core.data.batches import collate
from lynx_core.data.dialogue import DialogueTemplate
from lynx_core.data.examples import Example
from lynx_core.evaluate import rule_judge
from lynx_core.evaluate.metric_names import class_key
from lynx_core.model.lynx import LynxModel

GenerateFn = Callable[..., torch.Tensor]  # (batch, **decoding settings) → new tokens (B, ≤ N)


def decode_answers(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    template: DialogueTemplate,
    cfg: EvalConfig,
    generate: GenerateFn,
    runtime: Runtime = CPU,
    media: Callable[[Sequence[Example]], dict[str, torch.Tensor]] | None = None,
    max_new_tokens: int | None = None,
    ranks: Ranks = SINGLE,
) -> list[str]:
    """Answers to `examples`, batch by batch: prompts written in the LLM's dialogue `template`
    and collated (with each batch's `media` inputs) and moved to the device, `generate`
    called with the decoding settings (greedy or beam, `cfg`), its new tokens decoded.
    Several `ranks` each decode their hand of the batches, and every rank gets all answers,
    in order: the same as one process's, since each batch is the one it would decode."""
    settings = {
        "max_new_tokens": max_new_tokens or cfg.max_new_tokens,
        "do_sample": False,
        "num_beams": cfg.num_beams,
        "pad_token_id": tokenizer.pad_token_id,
        # a chat template's answers end with its end-of-turn token, a base model's with eos
        "eos_token_id": sorted({tokenizer.eos_token_id, template.answer_end_id(tokenizer)}),
    }
    chunks = [examples[s : s + cfg.batch_size] for s in range(0, len(examples), cfg.batch_size)]
    hand = dealt(chunks, ranks)
    mine: list[list[str]] = []
    for chunk in tqdm(hand, desc="eval", leave=False, disable=None if ranks.is_main else True):
        batch = collate(chunk, tokenizer, template, with_answers=False)
        if media is not None:
            batch.update(media(chunk))
        batch = runtime.to_device(batch)
        with runtime.autocast():
            new_tokens = generate(batch, **settings)
        mine.append(
            [a.strip() for a in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        )
    return [answer for chunk in gathered(mine, ranks) for answer in chunk]


def generate_answers(
    model: LynxModel,
    tokenizer: PreTrainedTokenizerBase,
    template: DialogueTemplate,
    examples: Sequence[Example],
    media: Callable[[list[int]], torch.Tensor],
    cfg: EvalConfig,
    max_new_tokens: int | None = None,
    runtime: Runtime = CPU,
    media_key: str = "pixels",
    ranks: Ranks = SINGLE,
) -> list[str]:
    """The model's answers; `media(rows)` reads the examples' images or videos (their
    `e.media` rows) for a batch, as pixels or (`media_key="patches"`) the frozen trunk's
    tokens."""
    model.eval()

    def generate(batch: dict[str, torch.Tensor], **settings) -> torch.Tensor:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        patches = batch.get("patches")
        return model.generate(batch.get("pixels"), ids, mask, patches=patches, **settings)

    def inputs(chunk: Sequence[Example]) -> dict[str, torch.Tensor]:
        return {media_key: media([e.media for e in chunk])}

    return decode_answers(
        examples, tokenizer, template, cfg, generate, runtime, inputs, max_new_tokens, ranks
    )


def rule_judge_of(examples: Sequence[Example]) -> rule_judge.RuleJudge:
    """The rule judge of a benchmark's questions (their classes' closed answer sets)."""
    return rule_judge.RuleJudge.of((ex.category, ex.accepted) for ex in examples)


def _percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else math.nan


def score(
    examples: Sequence[Example],
    answers: Sequence[str],
    verdicts: Sequence[bool | None] | None = None,
    judge_name: str = rule_judge.JUDGE_NAME,
) -> tuple[dict[str, float], list[dict]]:
    """Per-class and overall accuracy (%) and counts, plus one record per question.

    `verdicts` come from a judge (None: undecided, i.e. invalid or failed); without them the
    rule judge decides, knowing each kind's rival answers from these questions. Undecided
    questions are never scored, neither right nor wrong: they count in `total` and
    `undecided`, not in an accuracy (NaN when nothing was decided).
    """
    if verdicts is None:
        judge = rule_judge_of(examples)
        verdicts = [
            judge(a, ex.accepted, ex.category) for ex, a in zip(examples, answers, strict=True)
        ]
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    undecided: Counter[str] = Counter()
    records = []
    for ex, answer, verdict in zip(examples, answers, verdicts, strict=True):
        correct[ex.category] += verdict is True
        undecided[ex.category] += verdict is None
        total[ex.category] += 1
        records.append(
            {
                "media": ex.media,
                "kind": ex.kind,
                "class": ex.category,
                "question": ex.prompt,
                "answer": ex.accepted,
                "prediction": answer,
                "correct": verdict,
                "judge": judge_name,
            }
        )
    metrics: dict[str, float] = {}
    for category in sorted(total):
        key = class_key(category)
        metrics[f"{key}/correct"] = correct[category]
        metrics[f"{key}/total"] = total[category]
        metrics[f"{key}/undecided"] = undecided[category]
        metrics[f"{key}/acc"] = _percent(correct[category], total[category] - undecided[category])
    decided = sum(total.values()) - sum(undecided.values())
    metrics["overall"] = _percent(sum(correct.values()), decided)
    metrics["undecided"] = float(sum(undecided.values()))
    return metrics, records
