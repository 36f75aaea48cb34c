"""Training-step time of the toy prefix model vs its frozen LLM alone (issue: model library).

Both sides see a batch of the same total sequence length and padding (prompt + visual tokens
for the prefix model; text of that length and attention mask for the LLM). The LLM side runs
forward and backward down to its input embeddings, the LLM's share of a prefix-tuning step.
The prefix side is a full step (forward, backward, AdamW) with the frozen tower's features
cached, then without the cache.
Timings are interleaved medians in one run; the last line is the ratio with the cache.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from lynx_core.config import ModelConfig, PromptConfig
from lynx_core.data.batches import collate, to_pixels
from lynx_core.data.dialogue import TEMPLATES
from lynx_core.data.stage_data import task_examples, vocabulary
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.render import render
from lynx_core.model.llm import build_word_tokenizer
from lynx_core.model.lynx import build_lynx

TARGET = 1.25
REPEATS, WARMUP, BATCH = 60, 5, 16


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # as in a 1-CPU trial; small ops are noisy across threads
    tokenizer = build_word_tokenizer(vocabulary())
    model = build_lynx(ModelConfig(arch="prefix"), tokenizer)
    model.train()
    scenes = tw.sample_scenes(0, BATCH, "tasks")
    examples = task_examples("color", scenes, PromptConfig(mode="single"), 0)
    pixels = to_pixels(np.stack([render(s) for s in scenes]), 32)
    batch = collate(examples, tokenizer, TEMPLATES["lynx"], pixels)
    with torch.no_grad():
        patches = model.vision(batch["pixels"])  # the cache: the tower is frozen
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4, fused=True)
    # the text-only batch has the same length and the same padding as the prefix model's input
    args = (batch["pixels"], batch["input_ids"], batch["attention_mask"])
    with torch.no_grad(), model._inject(*args, patches=patches) as (_, text_mask, _):
        total_len = text_mask.shape[1]
    text_ids = torch.randint(5, len(tokenizer), (BATCH, total_len))

    def prefix_step(cached: bool) -> None:
        out = model(**batch, patches=patches if cached else None)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    def llm_step() -> None:
        embeds = model.llm.get_input_embeddings()(text_ids).detach().requires_grad_()
        out = model.llm(inputs_embeds=embeds, attention_mask=text_mask, labels=text_ids)
        out.loss.backward()

    steps = {
        "llm": llm_step,
        "cached": lambda: prefix_step(True),
        "uncached": lambda: prefix_step(False),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(WARMUP + REPEATS):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            if i >= WARMUP:
                times[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"sequence length {total_len}, batch {BATCH}; median step: "
        + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in median.items())
    )
    print(f"step_time_uncached ratio={median['uncached'] / median['llm']:.2f} (no target)")
    print(f"step_time ratio={median['cached'] / median['llm']:.2f} target<={TARGET}")


if __name__ == "__main__":
    main()
