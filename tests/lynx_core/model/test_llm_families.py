"""Adapters, cross-attention and the prefix on causal LMs of other families than LLaMA:
Gemma-3, Qwen2 and GPT-2 shaped models (tiny, random), as transformers builds them. Each must keep
the frozen model's text logits at init, train only what Lynx adds, and generate with its
KV cache as without it."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from lynx_core.config import ModelConfig
from lynx_core.model.llm import decoder_layers
from lynx_core.model.lynx import LynxModel
from lynx_core.model.vision import build_vision_tower

SIZES = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4}


def _ids(tokenizer) -> dict[str, int]:
    return {f"{r}_token_id": getattr(tokenizer, f"{r}_token_id") for r in ("pad", "bos", "eos")}


def llama(tokenizer):
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), num_attention_heads=4, num_key_value_heads=4, **SIZES,
        **_ids(tokenizer),
    )  # fmt: skip
    return LlamaForCausalLM(cfg)


def gemma3(tokenizer):
    """Gemma 3's layout: grouped-query attention with one KV head, q/k norms, sliding-window
    layers beside full ones, embeddings scaled by √width and tied to the output."""
    cfg = Gemma3TextConfig(
        vocab_size=len(tokenizer), num_attention_heads=4, num_key_value_heads=1, head_dim=16,
        sliding_window=4, layer_types=["sliding_attention", "full_attention"] * 2,
        tie_word_embeddings=True, **SIZES, **_ids(tokenizer),
    )  # fmt: skip
    return Gemma3ForCausalLM(cfg)


def qwen2(tokenizer):
    """Qwen2's layout: biased q/k/v projections, two KV heads for four query heads."""
    cfg = Qwen2Config(
        vocab_size=len(tokenizer), num_attention_heads=4, num_key_value_heads=2, **SIZES,
        **_ids(tokenizer),
    )  # fmt: skip
    return Qwen2ForCausalLM(cfg)


def gpt2(tokenizer):
    """A decoder whose blocks are not at `model.layers` (GPT-2 keeps them at `transformer.h`),
    with learned positions and LayerNorm."""
    cfg = GPT2Config(
        vocab_size=len(tokenizer), n_embd=64, n_layer=4, n_head=4, n_positions=256,
        **_ids(tokenizer),
    )  # fmt: skip
    return GPT2LMHeadModel(cfg)


FAMILIES = {"llama": llama, "gemma3": gemma3, "qwen2": qwen2, "gpt2": gpt2}


def lynx_on(family: str, tokenizer, arch: str) -> tuple[LynxModel, torch.nn.Module]:
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, adapters={"enabled": True, "every": 2})
    llm = FAMILIES[family](tokenizer).eval()
    frozen = copy.deepcopy(llm)
    return LynxModel(cfg, build_vision_tower(cfg.vision), llm).eval(), frozen


@pytest.mark.parametrize("family", FAMILIES)
def test_decoder_layers_are_found_in_each_family(family, tokenizer):
    llm = FAMILIES[family](tokenizer)
    assert len(decoder_layers(llm)) == llm.config.num_hidden_layers


@pytest.mark.parametrize("arch", ["prefix", "cross_attention"])
@pytest.mark.parametrize("family", FAMILIES)
def test_lynx_on_each_family(family, arch, tokenizer, world):
    model, frozen = lynx_on(family, tokenizer, arch)
    assert model.adapter_layers == [0, 2]
    batch = world.batch(world.questions()[:2], tokenizer)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():  # fresh adapters and shut gates: the frozen model's text logits
        expected = frozen(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(model(ids, mask).logits, expected, rtol=1e-5, atol=1e-5)
        if arch == "cross_attention":
            with_media = model(ids, mask, pixels=batch["pixels"]).logits
            torch.testing.assert_close(with_media, expected, rtol=1e-5, atol=1e-5)

    model.train()
    model(**batch).loss.backward()
    trainable = dict(model.trainable_named_parameters())
    assert all(".adapter." in n or ".xattn." in n for n in trainable if n.startswith("llm."))
    # every adapter is on the forward path (its zero-initialised up-projection gets a gradient)
    ups = [p for n, p in trainable.items() if n.endswith(".adapter.up.weight")]
    assert len(ups) == 2 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in ups)
    gates = [p for n, p in trainable.items() if n.endswith(".xattn.attn_gate")]
    if arch == "cross_attention":  # and every cross-attention layer (its gate's gradient)
        assert len(gates) == 4 and all(p.grad.abs().sum() > 0 for p in gates)
    assert all(p.grad is None for p in model.llm.parameters() if not p.requires_grad)

    model.eval()
    prompt = world.batch(world.questions()[:2], tokenizer, with_answers=False)
    args = (prompt["pixels"], prompt["input_ids"], prompt["attention_mask"])
    greedy = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    cached = model.generate(*args, use_cache=True, **greedy)
    uncached = model.generate(*args, use_cache=False, **greedy)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_prefix_is_held_at_the_scale_the_llm_gives_its_words(family, tokenizer):
    """Gemma multiplies its embeddings by √width on the way out: a prefix held at the
    weight's spread would be 1/8 of a word here (1/25 at Gemma 3 270M's width 640)."""
    model, _ = lynx_on(family, tokenizer, "prefix")
    words = model.llm.get_input_embeddings()(torch.arange(len(tokenizer)))
    assert model.injector.projector.scale == pytest.approx(words.std().item(), rel=0.02)


def test_a_model_whose_decoder_layers_cannot_be_told_apart_is_refused(tokenizer):
    llm = gpt2(tokenizer)  # its blocks are not at `.layers`: they are looked for
    llm.transformer.extra = torch.nn.ModuleList(torch.nn.Identity() for _ in range(4))
    with pytest.raises(ValueError, match="GPT2LMHeadModel has 2 module lists of 4 blocks"):
        decoder_layers(llm)
    lynx = llama(tokenizer)  # beside `model.layers` another list of as many is no doubt
    lynx.model.extra = torch.nn.ModuleList(torch.nn.Identity() for _ in range(4))
    assert decoder_layers(lynx) is lynx.model.layers


def test_a_llama_prefix_keeps_the_scale_it_had_from_the_embedding_weight(tokenizer):
    """LLaMA's embedding returns its rows as they are: the scale is exactly the weight's
    spread, as before the module's output was measured (stored runs stay comparable)."""
    from lynx_core.model.llm import word_embedding_std

    llm = llama(tokenizer)
    weight = llm.get_input_embeddings().weight.detach()
    assert word_embedding_std(llm) == weight.float().std().item()
