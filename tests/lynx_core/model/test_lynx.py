"""Invariants of the assembled model: identity at init, frozen parts, masks, generate, save/load."""

from __future__ import annotations

import copy

import pytest
import torch

from lynx_core.config import ModelConfig
from lynx_core.data.examples import IGNORE_INDEX
from lynx_core.model.lynx import LynxModel

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
    batch = world.batch(world.questions()[:4], tokenizer)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        expected = original(input_ids=ids, attention_mask=mask).logits
        text_only = model.llm(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(text_only, expected, rtol=0, atol=0)
        if arch == "cross_attention":  # gates at tanh(0) = 0: images change nothing yet
            with_media = model(ids, mask, pixels=batch["pixels"]).logits
            torch.testing.assert_close(with_media, expected, rtol=0, atol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_only_new_modules_train(build_parts, tokenizer, world, arch):
    model, _ = model_for(build_parts, arch)
    batch = world.batch(world.questions()[:4], tokenizer)
    model(**batch).loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(not n.startswith("vision.visual.") for n in trainable)
    llm_own = [
        n for n in trainable if n.startswith("llm.") and ".adapter." not in n and ".xattn." not in n
    ]
    assert llm_own == []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            assert param.grad is None, name
    # every trainable part on an image's path gets a gradient (frame embeddings: video only)
    on_path = [n for n in trainable if n != "vision.frame_embed"]
    assert all(model.get_parameter(n).grad is not None for n in on_path)
    counts = model.parameter_counts()
    assert counts["trainable"] == sum(p.numel() for p in model.trainable_parameters())
    assert 0 < counts["trainable"] < counts["total"]


def test_prefix_positions_are_masked_out_of_the_loss(build_parts, tokenizer, world):
    model, _ = model_for(build_parts, "prefix", adapters=False)
    examples = [world.questions()[0], world.captions()[1]]  # different lengths → padding
    batch = world.batch(examples, tokenizer)
    n = model.cfg.resampler.num_queries
    args = (batch["pixels"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    with model._inject(*args) as (_, mask, labels):
        pass
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
    batch = world.batch(world.questions()[:3], tokenizer, with_answers=False)
    kwargs = dict(
        max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=None
    )
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
    batch = world.batch(world.questions()[:2], tokenizer)
    fresh.load_trainable(tmp_path / "w.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch).logits, model(**batch).logits, rtol=0, atol=0)


def test_prefix_goes_at_the_image_placeholder_which_is_dropped(build_parts, tokenizer):
    model, _ = model_for(build_parts, "prefix", adapters=False)
    model.image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    ids = tokenizer(
        ["<s> User : <image> what shape are they ?"], add_special_tokens=False, return_tensors="pt"
    ).input_ids
    mask = torch.ones_like(ids)
    embeds = model.llm.get_input_embeddings()(ids)
    media = model.encode_media(torch.randn(1, 3, 32, 32))
    n, placeholder_at = media.shape[1], 3
    with model._inject(torch.randn(1, 3, 32, 32), ids, mask, ids.clone()) as (out, full, labels):
        pass
    # [<s> User :] [prefix × n] [what shape ...]; the placeholder became left padding
    assert full[0, 0] == 0 and full[0, 1:].all()
    torch.testing.assert_close(out[0, 1 : 1 + placeholder_at], embeds[0, :placeholder_at])
    torch.testing.assert_close(out[0, 1 + placeholder_at + n :], embeds[0, placeholder_at + 1 :])
    assert labels[0, 0] == IGNORE_INDEX  # the dropped placeholder
    assert (labels[0, 1 + placeholder_at : 1 + placeholder_at + n] == IGNORE_INDEX).all()
    torch.testing.assert_close(labels[0, 1 : 1 + placeholder_at], ids[0, :placeholder_at])


def test_cross_attention_leaves_text_before_the_media_untouched(build_parts, tokenizer, world):
    model, original = model_for(build_parts, "cross_attention", adapters=False)
    for layer in model.llm.get_decoder().layers:
        torch.nn.init.constant_(layer.xattn.attn_gate, 1.0)  # media now matter
    model.image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    ids = tokenizer(
        ["<s> User : <image> what shape are they ?"], add_special_tokens=False, return_tensors="pt"
    ).input_ids
    mask = torch.ones_like(ids)
    with torch.no_grad():
        logits = model(ids, mask, pixels=(world_pixels := torch.randn(1, 3, 32, 32))).logits
        frozen = original(input_ids=ids, attention_mask=mask).logits
    assert world_pixels.shape[0] == 1
    torch.testing.assert_close(logits[:, :3], frozen[:, :3])  # <s> User : precede the image
    assert not torch.allclose(logits[:, 3:], frozen[:, 3:])


@pytest.mark.parametrize("arch", ARCHS)
def test_video_input_trains_end_to_end(build_parts, tokenizer, world, arch):
    model, _ = model_for(build_parts, arch)
    batch = world.batch(world.questions()[:2], tokenizer)
    video = batch["pixels"].unsqueeze(1).repeat(1, 3, 1, 1, 1)  # (B, T=3, 3, H, W)
    assert model.encode_media(video).shape == (
        2,
        model.cfg.resampler.num_queries,
        model.cfg.resampler.dim,
    )
    out = model(batch["input_ids"], batch["attention_mask"], batch["labels"], pixels=video)
    out.loss.backward()
    assert model.vision.frame_embed.grad is not None


def test_trainable_llm_and_lora_options(build_parts, tokenizer, world):
    full_cfg = ModelConfig(arch="cross_attention", llm={"trainable": True})
    full = LynxModel(full_cfg, *build_parts(full_cfg))
    assert all(p.requires_grad for p in full.llm.parameters())
    lora_cfg = ModelConfig(arch="cross_attention", llm={"lora": {"rank": 4}})
    lora = LynxModel(lora_cfg, *build_parts(lora_cfg))
    trainable_llm = {n for n, p in lora.llm.named_parameters() if p.requires_grad}
    assert trainable_llm and all("lora_" in n or ".xattn." in n for n in trainable_llm)
    assert any("lora_" in n for n in trainable_llm)
    counts = lora.parameter_counts()
    assert counts["llm"] == sum(p.numel() for p in build_parts(lora_cfg)[1].parameters())
    batch = world.batch(world.questions()[:2], tokenizer)
    lora(**batch).loss.backward()
    assert all(p.grad is None for n, p in lora.llm.named_parameters() if not p.requires_grad)


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_generation(build_parts, tokenizer, world, arch):
    model, _ = model_for(build_parts, arch)
    model.eval()
    batch = world.batch(world.questions()[:2], tokenizer, with_answers=False)
    out = model.generate(
        batch["pixels"],
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=4,
        num_beams=3,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=None,
    )
    assert out.shape == (2, 4)
