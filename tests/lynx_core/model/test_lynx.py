"""Invariants of the assembled model: identity at init, frozen parts, masks, generate, save/load."""

from __future__ import annotations

import copy

import pytest
import torch

from lynx_core.config import ModelConfig
from lynx_core.data.batches import collate
from lynx_core.model.lynx import LynxModel
from lynx_core.model.prefix import IGNORE_INDEX

ARCHS = ["prefix", "cross_attention"]


def model_for(build_parts, arch: str, adapters: bool = True):
    cfg = ModelConfig(arch=arch, adapters={"enabled": adapters, "every": 1})
    vision, llm = build_parts(cfg)
    frozen_copy = copy.deepcopy(llm)
    return LynxModel(cfg, vision, llm), frozen_copy


@pytest.mark.parametrize("arch", ARCHS)
def test_fresh_model_leaves_frozen_llm_text_logits_unchanged(build_parts, tokenizer, world, arch):
    model, original = model_for(build_parts, arch)
    assert model.adapter_layers == [0, 1, 2, 3]
    batch = collate(world.questions()[:4], world.images, tokenizer, 32)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        expected = original(input_ids=ids, attention_mask=mask).logits
        text_only = model.llm(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(text_only, expected, rtol=0, atol=0)
        if arch == "cross_attention":  # gates at tanh(0) = 0: images change nothing yet
            with_media = model(batch["pixels"], ids, mask).logits
            torch.testing.assert_close(with_media, expected, rtol=0, atol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_only_new_modules_train(build_parts, tokenizer, world, arch):
    model, _ = model_for(build_parts, arch)
    batch = collate(world.questions()[:4], world.images, tokenizer, 32)
    model(**batch).loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(not n.startswith("vision.") for n in trainable)
    llm_own = [n for n in trainable if n.startswith("llm.") and ".adapter." not in n
               and ".xattn." not in n]
    assert llm_own == []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            assert param.grad is None, name
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("resampler.")]
    assert all(g is not None for g in grads)
    counts = model.parameter_counts()
    assert counts["trainable"] == sum(p.numel() for p in model.trainable_parameters())
    assert 0 < counts["trainable"] < counts["total"]


def test_prefix_positions_are_masked_out_of_the_loss(build_parts, tokenizer, world):
    model, _ = model_for(build_parts, "prefix", adapters=False)
    examples = [world.questions()[0], world.captions()[1]]  # different lengths → padding
    batch = collate(examples, world.images, tokenizer, 32)
    embeds = model.llm.get_input_embeddings()(batch["input_ids"])
    media = model.encode_media(batch["pixels"])
    n = media.shape[1]
    with model.injector.inject(media, embeds, batch["attention_mask"], batch["labels"]) as out:
        _, mask, labels = out
    for row in range(2):
        pads = int((batch["attention_mask"][row] == 0).sum())
        assert mask[row, :pads].sum() == 0 and mask[row, pads:].all()
        # [pads][BOS][prefix][text]: BOS and the prefix never carry a label
        assert (labels[row, : pads + 1 + n] == IGNORE_INDEX).all()
        answer = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX]
        assert torch.equal(labels[row][labels[row] != IGNORE_INDEX], answer)


@pytest.mark.parametrize("arch", ARCHS)
def test_generate_with_cache_matches_uncached_greedy(build_parts, tokenizer, world, arch):
    model, _ = model_for(build_parts, arch)
    for param in model.trainable_parameters():  # move off the identity init
        torch.nn.init.normal_(param, std=0.05)
    model.eval()
    batch = collate(world.questions()[:3], world.images, tokenizer, 32, with_answers=False)
    kwargs = dict(max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                  eos_token_id=None)
    args = (batch["pixels"], batch["input_ids"], batch["attention_mask"])
    cached = model.generate(*args, use_cache=True, **kwargs)
    uncached = model.generate(*args, use_cache=False, **kwargs)
    assert cached.shape == (3, 5)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("arch", ARCHS)
def test_saved_trainable_weights_reproduce_logits(build_parts, tokenizer, world, arch, tmp_path):
    model, _ = model_for(build_parts, arch)
    for param in model.trainable_parameters():
        torch.nn.init.normal_(param, std=0.05)
    model.save_trainable(tmp_path / "w.safetensors")
    fresh, _ = model_for(build_parts, arch)
    batch = collate(world.questions()[:2], world.images, tokenizer, 32)
    fresh.load_trainable(tmp_path / "w.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch).logits, model(**batch).logits, rtol=0, atol=0)
