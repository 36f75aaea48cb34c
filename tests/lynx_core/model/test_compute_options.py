"""Settings that change how the model computes, not what: gradient checkpointing and the
LLM's attention kernel (neither re-keys a stage, so both must give the same numbers)."""

from __future__ import annotations

import pytest
import torch
from transformers.modeling_layers import GradientCheckpointingLayer

from lynx_core.config import ModelConfig
from lynx_core.model.llm import decoder_layers
from lynx_core.model.lynx import LynxModel


def _gradients(model: LynxModel, batch) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    model(**batch).loss.backward()
    found = {n: p.grad for n, p in model.trainable_named_parameters() if p.grad is not None}
    return {n: g.clone() for n, g in found.items()}  # (an image batch: no frame embedding)


@pytest.mark.parametrize("arch", ["prefix", "cross_attention"])
def test_gradient_checkpointing_recomputes_layers_and_gives_the_same_gradients(
    build_parts, tokenizer, world, arch
):
    cfg = ModelConfig(arch=arch, adapters={"enabled": True, "every": 2})
    model = LynxModel(cfg, *build_parts(cfg)).train()
    batch = world.batch(world.questions()[:4], tokenizer)
    calls = []
    # inside the checkpointed layer's forward; a pre-hook, since a recompute stops as soon as
    # it has what the backward needs (a frozen projection's output is not among it)
    layers = [m for m in model.llm.modules() if isinstance(m, GradientCheckpointingLayer)]
    assert len(layers) == len(decoder_layers(model.llm))  # (the LLM's own, inside any wrapper)
    attention = layers[1].self_attn
    attention.register_forward_pre_hook(lambda *_: calls.append(1))
    plain = _gradients(model, batch)
    assert len(calls) == 1
    model.enable_gradient_checkpointing()
    calls.clear()
    checkpointed = _gradients(model, batch)
    assert len(calls) == 2  # its forward ran again in the backward pass
    assert plain and plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_attention_kernels_give_the_same_logits(build_parts, tokenizer, world):
    batch = world.batch(world.questions()[:4], tokenizer)
    logits = {}
    for kernel in ("sdpa", "eager"):
        cfg = ModelConfig(llm={"attn_implementation": kernel})
        model = LynxModel(cfg, *build_parts(cfg, seed=0)).eval()
        assert model.llm.config._attn_implementation == kernel
        with torch.no_grad():
            logits[kernel] = model(**batch).logits
    # rows are left-padded, visual tokens among the text: a padding position's output (which
    # the kernels fill differently) is read by nothing
    width = logits["sdpa"].shape[1]
    visual = width - batch["attention_mask"].shape[1]
    used = batch["attention_mask"].sum(dim=1, keepdim=True) + visual
    real = torch.arange(width) >= width - used
    torch.testing.assert_close(logits["eager"][real], logits["sdpa"][real], rtol=1e-4, atol=1e-5)
