"""Turn examples into model batches: prompt formatting, tokenisation, labels, pixels.

Loss is taken on the answer and end-of-sequence tokens only. Batch contents are a pure
function of (seed, step), so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from transformers import PreTrainedTokenizerBase

from lynx_core.data.toyworld import Example
from lynx_core.model.prefix import IGNORE_INDEX

PROMPT_TEMPLATE = "User: {question}\nBot:"  # the released Lynx prompt


def format_prompt(question: str, context: str = "") -> str:
    prompt = PROMPT_TEMPLATE.format(question=question)
    return f"{context} {prompt}" if context else prompt


def encode(
    tokenizer: PreTrainedTokenizerBase, prompt: str, answer: str | None
) -> tuple[list[int], list[int]]:
    """Token ids and labels of `<s> prompt answer </s>`; labels hide the prompt."""
    prompt_ids = [tokenizer.bos_token_id, *tokenizer(prompt, add_special_tokens=False).input_ids]
    if answer is None:
        return prompt_ids, [IGNORE_INDEX] * len(prompt_ids)
    answer_ids = [*tokenizer(" " + answer, add_special_tokens=False).input_ids]
    answer_ids.append(tokenizer.eos_token_id)
    return prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids


def to_pixels(images: np.ndarray, size: int) -> torch.Tensor:
    """(B, H, W, 3) uint8 → (B, 3, size, size) float, CLIP-normalised."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    if pixels.shape[-1] != size:
        pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def collate(
    examples: Sequence[Example],
    images: np.ndarray,
    tokenizer: PreTrainedTokenizerBase,
    image_size: int,
    with_answers: bool = True,
) -> dict[str, torch.Tensor]:
    """Left-padded input_ids, attention_mask, labels and the examples' pixels."""
    encoded = [
        encode(tokenizer, format_prompt(ex.prompt, ex.context), ex.answer if with_answers else None)
        for ex in examples
    ]
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    labels = torch.full((len(encoded), width), IGNORE_INDEX)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(encoded):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        labels[row, width - len(ids) :] = torch.tensor(labs)
        attention_mask[row, width - len(ids) :] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    if images is not None:
        batch["pixels"] = to_pixels(images[[ex.image for ex in examples]], image_size)
    return batch


def batch_indices(n_examples: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Indices of training batch `step`: epoch-wise shuffles, a pure function of its inputs."""
    per_epoch = max(n_examples // batch_size, 1)
    epoch, offset = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_examples, generator=generator)
    start = offset * batch_size
    return order[start : start + batch_size].tolist()
