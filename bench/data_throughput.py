"""Is the data pipeline ever the bottleneck? Samples/s it delivers vs what a training step eats.

Stage 2's data path (mixture draw, pixel preprocessing, tokenisation, padding) is timed alone
over the same batches a training run takes; then the model's step (forward, backward, AdamW)
is timed on those prepared batches. Both on one thread, as in a 1-CPU trial, on the default
toy model. Prints `data_throughput ratio=<data samples/s ÷ step samples/s> target>=3`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from lynx_core.config import VariantConfig
from lynx_core.pipeline import build_model, stage_batches
from lynx_core.stages import STAGES
from lynx_core.train.bases import prepare_bases

TARGET = 3.0
STEPS = 60


def main() -> None:
    torch.set_num_threads(1)
    cfg = VariantConfig.model_validate(
        {"train": {"bases": {"steps": 1}, "instruct": {"steps": 1}, "clip": {"steps": 1}}}
    )
    with tempfile.TemporaryDirectory() as tmp:
        folders = {stage: Path(tmp) / stage for stage in STAGES}
        world = Path(tmp) / "world"
        prepare_bases(cfg, folders["bases"], world)
        model, tokenizer = build_model(cfg, folders["bases"])
        prepare = stage_batches("stage2", cfg, world, tokenizer)  # what training calls
        prepare(0)  # warm caches (the mixture's schedule, tokenizer)
        started = time.perf_counter()
        prepared = [prepare(n) for n in range(STEPS)]
        data_time = time.perf_counter() - started

        optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)
        model.train()
        started = time.perf_counter()
        for batch in prepared:
            loss = model(**batch).loss
            optimizer.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
            optimizer.step()
        step_time = time.perf_counter() - started
    samples = sum(len(b["input_ids"]) for b in prepared)
    data_rate, step_rate = samples / data_time, samples / step_time
    print(f"data pipeline {data_rate:.0f} samples/s, training step {step_rate:.0f} samples/s")
    print(f"data_throughput ratio={data_rate / step_rate:.2f} target>={TARGET:g}")


if __name__ == "__main__":
    main()
