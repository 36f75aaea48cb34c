"""The paper preset builds on the meta device (no weights) with the published sizes."""

from __future__ import annotations

import pytest
import torch

from lynx_core.config import VariantConfig, nest
from lynx_core.model.lynx import build_lynx
from lynx_core.presets import PRESETS


@pytest.mark.parametrize("arch", ["prefix", "cross_attention"])
def test_paper_preset_parameter_counts(arch, capsys):
    overrides = {
        **PRESETS["paper"].overrides,
        "model.arch": arch,
        "model.llm.path": None,  # the published sizes, randomly initialised: no weights here
        "model.vision.checkpoint": None,
    }
    cfg = VariantConfig.model_validate(nest(overrides)).model
    with torch.device("meta"):
        model = build_lynx(cfg, tokenizer=None)
    counts = model.parameter_counts()
    with capsys.disabled():
        print(
            f"\npaper preset ({arch}): "
            + ", ".join(f"{k} {v / 1e9:.3f}B" for k, v in counts.items())
        )
    assert 0.9e9 < counts["vision"] < 1.1e9  # EVA ViT-g/14: about 1.0B
    assert 6.5e9 < counts["llm"] < 7.0e9  # LLaMA-7B: 6.74B
    assert model.vision.width == 1408
    assert model.cfg.vision.image_size == 420
    assert model.adapter_layers == list(range(0, 32, 2))
    if arch == "prefix":  # the released Lynx: "about 8B parameters in all"
        assert 7.5e9 < counts["total"] < 8.5e9
        assert counts["trainable"] < 0.05 * counts["total"]  # resampler, projector, adapters
    else:  # Flamingo-style blocks before every 4th layer add ~1.4B trainable weights
        assert model.injector.layer_indices == list(range(0, 32, 4))
        assert 1.0e9 < counts["trainable"] < 2.0e9


@pytest.mark.parametrize("size", [420, 224])
def test_the_eva_tower_reads_the_configured_resolution(size):
    """open_clip builds the timm EVA trunk at 224 px whatever size it is told; Lynx's 420 px
    must reach it (a 30x30 grid of 14-px patches), or the first image fails at its size."""
    cfg = VariantConfig.model_validate(
        nest({**PRESETS["paper"].overrides, "model.vision.image_size": size}),
    ).model.vision.model_copy(update={"checkpoint": None})
    from lynx_core.model.vision import build_vision_tower

    with torch.device("meta"):
        tower = build_vision_tower(cfg)
        tokens = tower.trunk_tokens(torch.zeros(1, 3, size, size))
    assert tokens.shape == (1, (size // 14) ** 2, 1408)
