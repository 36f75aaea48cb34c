"""The connector registry: each connector's shapes, its gradients, its token count as the
planner prices it, and each with both injectors in the assembled model."""

from __future__ import annotations

import typing

import pytest
import torch
from pydantic import ValidationError

from lynx_core.config import AvgPoolConfig, ModelConfig
from lynx_core.model.connectors import CONNECTORS, AvgPoolConnector, visual_tokens
from lynx_core.model.lynx import LynxModel
from lynx_core.model.vision import build_vision_tower

CONNECTOR_NAMES = list(CONNECTORS)
# the toy tower: 32 px in 8 px patches, a 4×4 grid of width 64
GRID, WIDTH = (4, 4), 64


def test_every_config_value_has_a_connector_and_back():
    values = typing.get_args(ModelConfig.model_fields["connector"].annotation)
    assert sorted(values) == sorted(CONNECTORS)


@pytest.mark.parametrize("name", CONNECTOR_NAMES)
@pytest.mark.parametrize("frames", [1, 3])
def test_each_connector_gives_the_tokens_it_promises(name, frames):
    cfg = ModelConfig(connector=name)
    tower = build_vision_tower(cfg.vision)
    assert tower.grid == GRID
    connector = CONNECTORS[name](tower, cfg)
    patches = torch.randn(2, frames * 16, WIDTH)
    out = connector(patches)
    expected = {"resampler": 8, "mlp": 16 * frames, "avg_pool": 4 * frames}[name]
    assert out.shape == (2, expected, connector.out_dim)
    assert visual_tokens(cfg, 16, frames) == expected  # what bench/gpu_step.py counts


@pytest.mark.parametrize("name", CONNECTOR_NAMES)
def test_gradients_reach_every_connector_weight_and_the_patches(name):
    cfg = ModelConfig(connector=name)
    connector = CONNECTORS[name](build_vision_tower(cfg.vision), cfg)
    patches = torch.randn(2, 16, WIDTH, requires_grad=True)
    connector(patches).square().mean().backward()
    assert patches.grad is not None and patches.grad.abs().sum() > 0
    for param_name, param in connector.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


def test_average_pooling_averages_each_frames_quadrants_in_order():
    pool = AvgPoolConnector(1, GRID, AvgPoolConfig(tokens=4, dim=1))
    torch.nn.init.ones_(pool.proj.weight), torch.nn.init.zeros_(pool.proj.bias)
    grid = torch.arange(16.0).reshape(4, 4)  # row-major, as the trunk emits patches
    clip = torch.stack([grid, grid + 100]).reshape(1, 32, 1)  # two frames
    cells = pool(clip).flatten().tolist()
    # quadrants top-left, top-right, bottom-left, bottom-right; then frame 2's
    assert cells == pytest.approx([2.5, 4.5, 10.5, 12.5, 102.5, 104.5, 110.5, 112.5])


def test_pooled_tokens_are_a_square_no_larger_than_the_grid():
    with pytest.raises(ValidationError, match="not a square.*use 4 or 9"):
        AvgPoolConfig(tokens=5)
    with pytest.raises(ValidationError, match="more than the 4×4 patch grid of the toy tower"):
        ModelConfig(connector="avg_pool", avg_pool={"tokens": 25})
    with pytest.raises(ValueError, match="model.avg_pool.tokens 25"):
        AvgPoolConnector(8, (4, 4), AvgPoolConfig(tokens=25))


@pytest.mark.parametrize("arch", ["prefix", "cross_attention"])
@pytest.mark.parametrize("name", ["mlp", "avg_pool"])
def test_each_connector_trains_under_each_injector(build_parts, tokenizer, world, arch, name):
    cfg = ModelConfig(arch=arch, connector=name)
    model = LynxModel(cfg, *build_parts(cfg))
    batch = world.batch(world.questions()[:2], tokenizer)
    video = batch["pixels"].unsqueeze(1).repeat(1, 2, 1, 1, 1)
    assert model.encode_media(video).shape[1] == {"mlp": 16 * 2, "avg_pool": 4 * 2}[name]
    model(**batch).loss.backward()
    trainable = dict(model.trainable_named_parameters())
    # the connector is registered under its name (saved weights say which it is)
    assert any(n.startswith(f"{name}.") for n in trainable)
    assert not any(n.startswith("resampler.") for n in trainable)
    connector_grads = [p.grad for n, p in trainable.items() if n.startswith(f"{name}.")]
    if arch == "prefix":  # cross-attention's gates start shut: no gradient reaches it yet
        assert all(g is not None and g.abs().sum() > 0 for g in connector_grads)
    assert model.parameter_counts()["connector"] == sum(
        p.numel() for p in model.connector.parameters()
    )


def test_a_variant_is_keyed_by_its_own_connectors_settings_alone():
    from lynx_core.config import VariantConfig
    from lynx_core.stages import CONNECTOR_SECTIONS, stage_inputs

    assert sorted(CONNECTOR_SECTIONS) == sorted(CONNECTORS)
    lynx = VariantConfig()
    others_set = VariantConfig(model={"avg_pool": {"tokens": 9}, "mlp": {"dim": 32}})
    assert stage_inputs(others_set, "stage1") == stage_inputs(lynx, "stage1")
    pooled = VariantConfig(model={"connector": "avg_pool", "resampler": {"num_queries": 2}})
    inputs = stage_inputs(pooled, "stage1")
    assert inputs["model.connector"] == "avg_pool" and inputs["model.avg_pool.tokens"] == 4
    assert not any(field.startswith(("model.resampler.", "model.mlp.")) for field in inputs)
    assert "model.connector" not in stage_inputs(lynx, "stage1")  # keys from before it existed


def test_the_planner_prices_each_connector_by_the_tokens_it_hands_the_llm():
    from lynx_core.config import VariantConfig
    from lynx_core.flops import ModelFlops

    def image_sample(connector: str) -> float:
        cfg = VariantConfig(model={"connector": connector})
        return ModelFlops(cfg, vocab_size=512).sample("image", 32).forward

    # through the same LLM: 16 patch tokens (mlp) cost more than 8 queries, 4 cells less
    assert image_sample("mlp") > image_sample("resampler") > image_sample("avg_pool")
