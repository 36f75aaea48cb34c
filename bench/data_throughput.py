"""Is the data pipeline ever the bottleneck? Samples/s it delivers vs what a training step eats.

Two data paths, each timed alone over the batches a training run takes, against the model's
step (forward, backward, AdamW) timed on those prepared batches, on one thread as in a 1-CPU
trial, on the default toy model:

- `data_throughput_world`: stage 2's mixture of the generated world (mixture draw, pixel
  preprocessing, tokenisation, padding) in the training process;
- `data_throughput_shards`: stage 1 on webdataset tar shards of 256-px JPEGs, decoded and
  resized by 2 DataLoader workers (`train.data_workers: 2`) ahead of the step.

Prints `<name> ratio=<data samples/s ÷ step samples/s> target>=3` for each.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lynx_core.config import VariantConfig
from lynx_core.data.stage_batches import stage_batches
from lynx_core.pipeline import build_model
from lynx_core.stages import STAGES, Stage
from lynx_core.train.bases import prepare_bases

TARGET = 3.0
STEPS = 60
SHARDS, PER_SHARD, SIDE = 8, 128, 256
TOY_BASES = {"train": {"bases": {"steps": 1}, "instruct": {"steps": 1}, "clip": {"steps": 1}}}


def write_shards(folder: Path) -> str:
    """Tar shards of JPEG photos-to-be (smooth noise, so JPEG has work) with captions."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for shard in range(SHARDS):
        with tarfile.open(folder / f"bench-{shard:02d}.tar", "w") as tar:
            for i in range(PER_SHARD):
                small = rng.integers(0, 256, (SIDE // 8, SIDE // 8, 3), dtype=np.uint8)
                image = Image.fromarray(small).resize((SIDE, SIDE), Image.BILINEAR)
                jpeg = io.BytesIO()
                image.save(jpeg, format="JPEG", quality=90)
                for name, data in (
                    (f"{shard}-{i}.jpg", jpeg.getvalue()),
                    (f"{shard}-{i}.txt", b"a red square"),
                ):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return str(folder / f"bench-{{00..{SHARDS - 1:02d}}}.tar")


def rates(stage: Stage, cfg: VariantConfig, root: Path) -> tuple[float, float]:
    """(data samples/s, training step samples/s) of `stage`'s first STEPS batches."""
    folders = {s: root / s for s in STAGES}
    world = root / "world"
    prepare_bases(cfg, folders["bases"], world)
    model, tokenizer = build_model(cfg, folders["bases"])
    prepare = stage_batches(stage, cfg, world, tokenizer)  # what training calls
    prepare(0)  # warm caches (the mixture's schedule, tokenizer, DataLoader workers)
    started = time.perf_counter()
    prepared = [prepare(n) for n in range(1, STEPS + 1)]
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
    return samples / data_time, samples / step_time


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world = VariantConfig.model_validate(TOY_BASES)
        shards = VariantConfig.model_validate(
            {
                **TOY_BASES,
                "data": {
                    "captions": {
                        "world_ratio": 0,
                        "files": [{"format": "webdataset", "path": write_shards(root / "shards")}],
                    }
                },
                "train": {**TOY_BASES["train"], "data_workers": 2},
            }
        )
        measured = {
            "data_throughput_world": rates("stage2", world, root / "world-run"),
            "data_throughput_shards": rates("stage1", shards, root / "shards-run"),
        }
    for name, (data_rate, step_rate) in measured.items():
        print(f"{name}: data {data_rate:.0f} samples/s, training step {step_rate:.0f} samples/s")
    for name, (data_rate, step_rate) in measured.items():
        print(f"{name} ratio={data_rate / step_rate:.2f} target>={TARGET:g}")


if __name__ == "__main__":
    main()
