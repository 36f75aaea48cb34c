"""LLM and tokenizer loading: a local HF folder round-trips; toy tokenizer keeps <image> whole."""

from __future__ import annotations

import torch

from lynx_core.config import LLMConfig
from lynx_core.model.llm import IMAGE_TOKEN, build_llm, load_tokenizer


def test_local_checkpoint_loads_with_from_pretrained(tokenizer, tmp_path):
    torch.manual_seed(0)
    original = build_llm(LLMConfig(), tokenizer)
    original.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = build_llm(LLMConfig(path=tmp_path), None)
    reloaded_tokenizer = load_tokenizer(tmp_path)
    ids = reloaded_tokenizer(
        ["<s> User : what color are the shapes ?"], add_special_tokens=False, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, original(input_ids=ids).logits)
    assert reloaded_tokenizer.padding_side == "left"  # generation needs left padding


def test_bfloat16_weights_on_request(tokenizer):
    llm = build_llm(LLMConfig(dtype="bfloat16"), tokenizer)
    assert {p.dtype for p in llm.parameters()} == {torch.bfloat16}


def test_image_placeholder_is_one_token(tokenizer):
    ids = tokenizer(f"User : {IMAGE_TOKEN} what", add_special_tokens=False).input_ids
    assert ids.count(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)) == 1 and len(ids) == 4
