"""Dialogue templates: Lynx's released prompt written as it always was, Vicuna v1.1's as
FastChat writes it, chosen per LLM by `model.llm.prompt_template`, and keyed so that the
default keeps the stage keys of stores written before the choice existed."""

from __future__ import annotations

import json
from typing import get_args

import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from lynx_core.config import LLMConfig, VariantConfig, flatten
from lynx_core.data.batches import collate
from lynx_core.data.dialogue import CHAT_TEMPLATE, TEMPLATES, dialogue_template
from lynx_core.data.examples import Example
from lynx_core.model.released import GEMMA3_CHAT_TEMPLATE
from lynx_core.stages import INTRODUCED_AT, STAGES, stage_inputs
from tests.tiny import tiny_config

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


def test_the_lynx_template_writes_the_released_prompt_with_context_and_earlier_turns():
    lynx = TEMPLATES["lynx"]
    assert lynx.prompt("What colour is it?") == "User: What colour is it?\nBot:"
    assert lynx.prompt("Shape?", context="a red ball .") == "a red ball . User: Shape?\nBot:"
    earlier = [("What colour?", "Red."), ("Shape?", "Ball.")]
    assert lynx.prompt("Big?", history=earlier) == (
        "User: What colour?\nBot: Red.\nUser: Shape?\nBot: Ball. User: Big?\nBot:"
    )


def test_the_vicuna_template_writes_fastchats_vicuna_v1_1_conversation():
    # FastChat: get_conv_template("vicuna_v1.1"), messages [q1, a1, q2, None], get_prompt()
    vicuna = TEMPLATES["vicuna_v1.1"]
    assert vicuna.prompt("Is it bright?", history=[("What colour is it?", "Red.")]) == (
        f"{VICUNA_SYSTEM} USER: What colour is it? ASSISTANT: Red.</s>USER: Is it bright? "
        "ASSISTANT:"
    )
    assert vicuna.prompt("Shape?") == f"{VICUNA_SYSTEM} USER: Shape? ASSISTANT:"


def test_every_configurable_template_exists_and_the_default_keeps_earlier_keys():
    choices = set(get_args(LLMConfig.model_fields["prompt_template"].annotation))
    assert choices == {*TEMPLATES, CHAT_TEMPLATE}
    defaults = flatten(VariantConfig().model_dump(mode="json"))
    assert all(defaults[field] == value for field, value in INTRODUCED_AT.items())
    lynx, vicuna = tiny_config(), tiny_config(**{"model.llm.prompt_template": "vicuna_v1.1"})
    for stage in STAGES:  # the default is not in any key; the other choice is in the bases'
        assert not any(field in INTRODUCED_AT for field in stage_inputs(lynx, stage))
    assert stage_inputs(vicuna, "bases") == {
        **stage_inputs(lynx, "bases"),
        "model.llm.prompt_template": "vicuna_v1.1",
    }


def test_a_vicuna_llm_is_instruction_tuned_and_trained_on_its_own_format(tmp_path):
    """The toy Vicuna learns the template's words (none unknown), and a stage-2 batch of a
    multi-turn LLaVA file holds exactly the Vicuna prompts of its turns."""
    from lynx_core.data.stage_batches import stage_batches
    from lynx_core.pipeline import run_stage
    from lynx_core.train.bases import load_bases

    image = tmp_path / "data" / "red.png"
    image.parent.mkdir(parents=True)
    Image.new("RGB", (32, 32), (255, 0, 0)).save(image)
    conversation = [
        {"from": "human", "value": "<image>\nwhat colour is it ?"},
        {"from": "gpt", "value": "red"},
        {"from": "human", "value": "what shape is it ?"},
        {"from": "gpt", "value": "square"},
    ]
    file = tmp_path / "data" / "talk.json"
    file.write_text(json.dumps([{"image": "red.png", "conversations": conversation}]))
    cfg = tiny_config(
        **{
            "model.llm.prompt_template": "vicuna_v1.1",
            "train.bases.steps": 2,
            "train.instruct.steps": 2,
            "train.clip.steps": 0,
            "train.stage2.batch_size": 2,
            "data.train_files": [{"path": str(file)}],
            "data.mixture": {"talk": 1.0},
        }
    )
    folders = {stage: tmp_path / stage for stage in STAGES}
    run_stage("bases", cfg, folders, tmp_path / "cache")
    tokenizer, _ = load_bases(cfg, folders["bases"])
    vicuna = TEMPLATES["vicuna_v1.1"]
    system = tokenizer(vicuna.system, add_special_tokens=False).input_ids
    assert tokenizer.unk_token_id not in system

    batch = stage_batches("stage2", cfg, tmp_path / "cache" / "world", tokenizer)(0)
    second_turn = vicuna.prompt("what shape is it ?", history=[("what colour is it ?", "red")])
    expected = {
        tuple(tokenizer(prompt, add_special_tokens=False).input_ids)
        for prompt in (vicuna.prompt("what colour is it ?"), second_turn)
    }
    prompts = set()
    rows = zip(batch["input_ids"], batch["attention_mask"].bool(), batch["labels"], strict=True)
    for ids, mask, labels in rows:
        ids, labels = ids[mask], labels[mask]
        prompt_ids = ids[1 : int((labels == -100).sum())]  # after <s>, before the answer
        prompts.add(tuple(prompt_ids.tolist()))
    assert prompts == expected
    assert tokenizer.eos_token_id in tokenizer(second_turn, add_special_tokens=False).input_ids


def _chat_tokenizer(chat_template: str | None, turn_tokens: tuple[str, ...]):
    """The toy word tokenizer with a chat template and its turn markers as special tokens."""
    from lynx_core.data.stage_data import vocabulary
    from lynx_core.model.llm import build_word_tokenizer

    tokenizer = build_word_tokenizer([*vocabulary(), "user", "model", "assistant", "system"])
    tokenizer.add_special_tokens({"additional_special_tokens": list(turn_tokens)})
    tokenizer.chat_template = chat_template
    return tokenizer


# ChatML (Qwen2's): a default system message before the first turn, <|im_end|> closes a turn
CHATML = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
    "{{ '<|im_start|>system\nbe brief .<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.mark.parametrize(
    ("chat_template", "turn_tokens", "end"),
    [
        (GEMMA3_CHAT_TEMPLATE, ("<start_of_turn>", "<end_of_turn>"), "<end_of_turn>"),
        (CHATML, ("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
    ],
)
def test_a_chat_template_writes_prompts_as_the_tokenizer_does_and_answers_end_its_turn(
    chat_template, turn_tokens, end
):
    tokenizer = _chat_tokenizer(chat_template, turn_tokens)
    template = dialogue_template("chat_template", tokenizer)
    turns = [("what colour is it ?", "red"), ("what shape is it ?", "square")]
    messages = [
        {"role": r, "content": c} for q, a in turns for r, c in (("user", q), ("assistant", a))
    ]
    asked = tokenizer.apply_chat_template(
        [*messages, {"role": "user", "content": "how many ?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    asked = asked.removeprefix(tokenizer.bos_token)  # `encode` adds the BOS itself
    assert template.prompt("how many ?", history=turns) == asked

    example = Example(-1, "text", "how many ?", "two", "count", history=tuple(turns))
    batch = collate([example], tokenizer, template)
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    answer = [i for i, label in zip(ids, labels, strict=True) if label != -100]
    assert answer == [tokenizer.convert_tokens_to_ids("two"), tokenizer.convert_tokens_to_ids(end)]
    assert ids[0] == tokenizer.bos_token_id and tokenizer.unk_token_id not in ids
    prompt = tokenizer(asked, add_special_tokens=False).input_ids
    assert ids[: len(ids) - 2] == [tokenizer.bos_token_id, *prompt]  # the tokenizer's own text


def test_a_chat_template_is_refused_where_there_is_none_or_it_cannot_be_cut_into_turns():
    with pytest.raises(ValueError, match="has no chat template"):
        dialogue_template("chat_template", _chat_tokenizer(None, ()))
    echoed = "{% for m in messages %}{{ m['content'] + m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="does not write each message once"):
        dialogue_template("chat_template", _chat_tokenizer(echoed, ()))
    with pytest.raises(ValidationError, match="has none: set model.llm.path"):
        LLMConfig(prompt_template="chat_template")


def test_a_chat_templates_context_opens_the_first_user_message_and_no_bos_starts_with_eos():
    """Text context (a scene's description) is inside the turn, as the tokenizer would write
    it; a tokenizer without BOS (Qwen's) starts each sequence with its end-of-text token, the
    place the media follow."""
    tokenizer = _chat_tokenizer(CHATML, ("<|im_start|>", "<|im_end|>"))
    template = dialogue_template("chat_template", tokenizer)
    asked = tokenizer.apply_chat_template(
        [{"role": "user", "content": "a red square .\n\nwhat colour is it ?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert template.prompt("what colour is it ?", context="a red square .") == asked
    tokenizer.bos_token = None
    example = Example(-1, "text", "what colour is it ?", "red", "color", context="a red square .")
    ids = collate([example], tokenizer, template)["input_ids"][0].tolist()
    assert ids[0] == tokenizer.eos_token_id and ids.count(tokenizer.eos_token_id) == 1


# Llama 2's: a BOS opens every turn, so a turn's opening cannot be told from the system part
LLAMA2 = (
    "{% for m in messages %}{% if m['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}"
)


def test_a_template_whose_turns_cannot_be_told_apart_is_refused():
    with pytest.raises(ValueError, match="cannot be cut into turns"):
        dialogue_template("chat_template", _chat_tokenizer(LLAMA2, ()))


def test_decoding_stops_at_a_chat_templates_end_of_turn_as_at_eos():
    from lynx_core.config import EvalConfig
    from lynx_core.evaluate.openvqa import decode_answers

    tokenizer = _chat_tokenizer(CHATML, ("<|im_start|>", "<|im_end|>"))
    asked = {}

    def generate(batch, **settings):
        asked.update(settings)
        return torch.tensor([[tokenizer.convert_tokens_to_ids("red")]])

    example = Example(-1, "text", "what colour is it ?", "red", "color")
    template = dialogue_template("chat_template", tokenizer)
    assert decode_answers([example], tokenizer, template, EvalConfig(), generate) == ["red"]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert asked["eos_token_id"] == sorted({tokenizer.eos_token_id, end})
