"""Released weights converted: EfficientNet-Lite0's lukemelas names onto timm's model, every
tensor placed or the conversion refused, naming the key. (That the placement is right, not
only well-shaped, is the slow test's: the converted model still recognises a photograph,
tests/lynx_core/test_real_weights.py.)"""

from __future__ import annotations

import pytest
import timm
import torch

from lynx_core.model.released import EFFICIENTNET_TIMM_NAME, efficientnet_to_timm


@pytest.fixture(scope="module")
def model():
    return timm.create_model(EFFICIENTNET_TIMM_NAME, pretrained=False)


# lukemelas' names of timm's, as EfficientNet-PyTorch writes a Lite0: blocks numbered across
# stages, the first (no expansion) with two convolutions and two norms
TOP = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1"}
FIRST = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
OTHERS = {
    "conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
    "conv_pwl": "_project_conv", "bn3": "_bn2",
}  # fmt: skip


def lukemelas_state(model) -> dict[str, torch.Tensor]:
    numbers = {}
    for stage, blocks in enumerate(model.blocks):
        for index in range(len(blocks)):
            numbers[(stage, index)] = len(numbers)
    state = {}
    for key, tensor in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "blocks":
            number = numbers[(int(parts[1]), int(parts[2]))]
            part = (FIRST if number == 0 else OTHERS)[parts[3]]
            state[f"_blocks.{number}.{part}.{parts[4]}"] = tensor
        else:
            state[".".join([TOP.get(parts[0], "_fc"), *parts[1:]])] = tensor
    return state


def test_every_released_tensor_lands_on_timms_weight_of_its_block(model):
    state = lukemelas_state(model)
    assert len(state) == len(model.state_dict()) == 296
    renamed = efficientnet_to_timm(state, model)
    assert renamed.keys() == model.state_dict().keys()
    assert all(renamed[k].data_ptr() == v.data_ptr() for k, v in model.state_dict().items())
    del state["_blocks.15._bn2.bias"]
    with pytest.raises(ValueError, match=r"does not fill: \['blocks.6.0.bn3.bias'\]"):
        efficientnet_to_timm(state, model)


@pytest.mark.parametrize(
    ("key", "shape", "told"),
    [
        ("_fc.weight", (10, 1280), r"_fc.weight \(\(10, 1280\)\) → classifier.weight: \(1000"),
        ("_blocks.16._bn0.weight", (8,), "no such weight"),
        ("_head.weight", (8,), "_head.weight .* no such weight"),
    ],
)
def test_a_tensor_without_its_place_is_refused_by_name(model, key, shape, told):
    with pytest.raises(ValueError, match=told):
        efficientnet_to_timm({key: torch.zeros(shape)}, model)
