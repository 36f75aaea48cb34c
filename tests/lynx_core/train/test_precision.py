"""Mixed precision done right: bf16 compute, fp32 master weights for whatever trains."""

from __future__ import annotations

import torch

from lynx_core.compute.runtime import Runtime
from lynx_core.config import ModelConfig, StageConfig
from lynx_core.model.lynx import LynxModel
from lynx_core.train.optimization import TorchOptimization

BF16_ON_CPU = Runtime(torch.device("cpu"), torch.bfloat16)  # the GPU's autocast, on a CPU
SMALL_UPDATES = StageConfig(steps=1000, lr=1e-4, warmup_steps=0)  # Adam moves ~lr a step


def test_an_update_below_bf16_resolution_rounds_away_on_a_bf16_weight():
    """The premise: at 1.0 bf16's spacing is 2^-7, so AdamW's ~1e-4 steps never land."""
    weight = torch.nn.Parameter(torch.ones(8, dtype=torch.bfloat16))
    optimizer = torch.optim.AdamW([weight], lr=SMALL_UPDATES.lr, weight_decay=0.0)
    for _ in range(30):
        weight.grad = torch.ones_like(weight)
        optimizer.step()
    assert torch.equal(weight.detach(), torch.ones_like(weight))


def test_a_trainable_bf16_llm_learns_from_updates_below_its_resolution(
    build_parts, tokenizer, world
):
    cfg = ModelConfig(llm={"dtype": "bfloat16", "trainable": True})
    model = LynxModel(cfg, *build_parts(cfg))
    trainable = model.trainable_parameters()
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    norm = model.llm.get_decoder().norm.weight  # RMSNorm gains start at exactly 1.0
    assert torch.equal(norm.detach(), torch.ones_like(norm))
    optimization = TorchOptimization(trainable, SMALL_UPDATES, model)
    batch = world.batch(world.questions()[:4], tokenizer)
    for _ in range(30):
        with BF16_ON_CPU.autocast():
            loss = model(**batch).loss
        optimization.backward(loss)
        optimization.step()
    moved = (norm.detach() - 1.0).abs().max().item()
    assert moved > 1e-3  # ~30 steps of ~1e-4, where a bf16 weight would not have moved


def test_frozen_weights_keep_their_storage_dtype(build_parts):
    cfg = ModelConfig(llm={"dtype": "bfloat16"}, adapters={"enabled": True})
    model = LynxModel(cfg, *build_parts(cfg))
    frozen = [p for n, p in model.llm.named_parameters() if not p.requires_grad]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)  # half the memory
    assert all(p.dtype == torch.float32 for p in model.trainable_parameters())
