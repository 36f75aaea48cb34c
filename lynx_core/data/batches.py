"""Turn examples into model batches: prompt formatting, tokenisation, labels, pixels.

Loss is taken on the answer and end-of-sequence tokens only. Batch contents are a pure
function of (seed, step), so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from transformers import PreTrainedTokenizerBase

from lynx_core.compute.ranks import Ranks
from lynx_core.data.dialogue import DialogueTemplate
from lynx_core.data.examples import IGNORE_INDEX, Example
from lynx_core.data.files.formats import read_image, read_video


def encode(
    tokenizer: PreTrainedTokenizerBase,
    template: DialogueTemplate,
    prompt: str,
    answer: str | None,
) -> tuple[list[int], list[int]]:
    """Token ids and labels of `<s> prompt answer <end>`, the answer after the `template`'s
    `before_answer` and ended by its answer-end token (`</s>`, or a chat template's
    end-of-turn); labels hide the prompt. `<s>` is the tokenizer's BOS, or its end-of-text
    token where it has none (`_bos`)."""
    prompt_ids = [*_bos(tokenizer), *tokenizer(prompt, add_special_tokens=False).input_ids]
    if answer is None:
        return prompt_ids, [IGNORE_INDEX] * len(prompt_ids)
    text = template.before_answer + answer
    answer_ids = [*tokenizer(text, add_special_tokens=False).input_ids]
    answer_ids.append(template.answer_end_id(tokenizer))
    return prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids


def _bos(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """What a sequence starts with, and the media follow (`lynx_core.model.lynx.media_anchor`):
    the BOS, or for a tokenizer without one (Qwen) its end-of-text token, where its
    pretraining saw each document begin."""
    start = tokenizer.bos_token_id
    return [tokenizer.eos_token_id if start is None else start]


def to_pixels(media: np.ndarray, size: int) -> torch.Tensor:
    """(B, H, W, 3) or (B, T, H, W, 3) uint8 → (B, [T,] 3, size, size) float, CLIP-normalised."""
    frames = torch.from_numpy(np.ascontiguousarray(media))
    lead = frames.shape[:-3]
    pixels = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0
    if pixels.shape[-1] != size or pixels.shape[-2] != size:
        pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return ((pixels - mean) / std).reshape(*lead, 3, size, size)


def read_pixels(paths: Sequence[Path], kind: str, size: int, frames: int) -> torch.Tensor:
    """Image or video files (any sizes) → (B, [frames,] 3, size, size), as `to_pixels`."""
    if kind == "image":
        return torch.stack([to_pixels(read_image(p)[None], size)[0] for p in paths])
    return torch.stack([to_pixels(read_video(p, frames), size) for p in paths])


def _pad(encoded: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), pad_id)
    labels = torch.full((len(encoded), width), IGNORE_INDEX)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(encoded):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        labels[row, width - len(ids) :] = torch.tensor(labs)
        attention_mask[row, width - len(ids) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    template: DialogueTemplate,
    pixels: torch.Tensor | None = None,
    with_answers: bool = True,
) -> dict[str, torch.Tensor]:
    """Left-padded input_ids, attention_mask and labels of the examples written in the LLM's
    dialogue `template`, plus their `pixels` if given (text-only batches have none)."""
    encoded = [
        encode(
            tokenizer,
            template,
            template.prompt(ex.prompt, ex.context, ex.history),
            ex.answer if with_answers else None,
        )
        for ex in examples
    ]
    batch = _pad(encoded, tokenizer.pad_token_id)
    if pixels is not None:
        batch["pixels"] = pixels
    return batch


def plain_batch(
    tokenizer: PreTrainedTokenizerBase, lines: Sequence[str]
) -> dict[str, torch.Tensor]:
    """Language-model batch of plain text (`<s> line </s>`, loss on every token), left-padded."""
    encoded = []
    for line in lines:
        ids = [*_bos(tokenizer), *tokenizer(line, add_special_tokens=False).input_ids]
        ids.append(tokenizer.eos_token_id)
        encoded.append((ids, [IGNORE_INDEX, *ids[1:]]))
    return _pad(encoded, tokenizer.pad_token_id)


def batch_indices(n_examples: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Indices of training batch `step`: epoch-wise shuffles, a pure function of its inputs."""
    per_epoch = max(n_examples // batch_size, 1)
    epoch, offset = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_examples, generator=generator)
    start = offset * batch_size
    return order[start : start + batch_size].tolist()


def answer_tokens(labels: torch.Tensor) -> int:
    """Positions a causal LM's loss averages over (labels shift left by one)."""
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


GLOBAL_TOKENS = "global_answer_tokens"  # carried with a rank's rows, for its loss weight
MASKED_TOKENS = "masked_answer_tokens"  # of this rank's rows masked after `take_rows` counted


def take_rows(batch: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, torch.Tensor]:
    """This rank's rows of a collated global batch, with the global batch's answer-token
    count (`loss_weight` reads it; no collective is needed to know it)."""
    rows = ranks.rows(len(batch["input_ids"]))
    mine = {key: value[rows] for key, value in batch.items()}
    return mine | {GLOBAL_TOKENS: torch.tensor(answer_tokens(batch["labels"]))}
