"""Vision towers from timm and Hugging Face, each from a tiny local checkpoint the test writes:
the patch grid and width read from the model, the weights read from the file (never
downloaded), pixels converted to the tower's own statistics, and the tower in a whole model."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from pydantic import ValidationError
from safetensors.torch import save_file
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    Dinov2Config,
    Dinov2Model,
    Dinov2WithRegistersConfig,
    Dinov2WithRegistersModel,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from lynx_core.config import ModelConfig, VisionConfig
from lynx_core.model.lynx import LynxModel
from lynx_core.model.towers import Renormalise
from lynx_core.model.vision import build_vision_tower

TINY_VIT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def statistics(folder, mean, std):
    """The image processor's file, as a released model's folder has it."""
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": list(mean), "image_std": list(std)})
    )


def clip_vision(folder):
    cfg = CLIPVisionConfig(**TINY_VIT, num_attention_heads=2, image_size=32, patch_size=8)
    CLIPVisionModel(cfg).save_pretrained(folder)
    statistics(folder, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)


def whole_clip(folder):
    """A whole CLIP (text and vision): its vision half is the tower."""
    vision = {**TINY_VIT, "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
    text = {**TINY_VIT, "num_attention_heads": 2, "vocab_size": 99}
    CLIPModel(
        CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    ).save_pretrained(folder)
    statistics(folder, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)


def siglip(folder):
    cfg = SiglipVisionConfig(**TINY_VIT, num_attention_heads=2, image_size=32, patch_size=8)
    SiglipVisionModel(cfg).save_pretrained(folder)
    statistics(folder, [0.5] * 3, [0.5] * 3)


def dinov2(folder):
    """DINOv2 with ImageNet statistics; trained at 32 px, asked for 48 (it interpolates)."""
    cfg = Dinov2Config(**TINY_VIT, num_attention_heads=2, image_size=32, patch_size=8)
    Dinov2Model(cfg).save_pretrained(folder)
    statistics(folder, *IMAGENET)


def dinov2_registers(folder):
    """DINOv2 with 4 register tokens after its CLS token: 5 tokens to drop, not 1."""
    cfg = Dinov2WithRegistersConfig(
        **TINY_VIT, num_attention_heads=2, image_size=32, patch_size=8, num_register_tokens=4
    )
    Dinov2WithRegistersModel(cfg).save_pretrained(folder)
    statistics(folder, *IMAGENET)


HF = {  # writer, image size asked, grid, width
    "clip": (clip_vision, 32, (4, 4), 32),
    "whole-clip": (whole_clip, 32, (4, 4), 32),
    "siglip": (siglip, 48, (6, 6), 32),  # at another size than trained: interpolated
    "dinov2": (dinov2, 48, (6, 6), 32),
    "dinov2-registers": (dinov2_registers, 32, (4, 4), 32),
}
TIMM = {  # architecture, image size, grid, width
    "vit_tiny_patch16_224": (64, (4, 4), 192),  # a ViT: its CLS token dropped
    "efficientnet_lite0": (64, (2, 2), 1280),  # a CNN: its last feature map, 32× smaller
    "swin_tiny_patch4_window7_224": (224, (7, 7), 768),  # channels last, 4 stages: 56 → 7
}


def hf_tower(name: str, tmp_path):
    writer, size, _, _ = HF[name]
    writer(tmp_path / name)
    return VisionConfig(family="hf", hf_path=tmp_path / name, image_size=size)


def timm_tower(name: str, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / f"{name}.safetensors"
    save_file(timm.create_model(name, pretrained=False).state_dict(), str(path))  # with its head
    return VisionConfig(family="timm", timm_name=name, checkpoint=path, image_size=TIMM[name][0])


@pytest.mark.parametrize("name", HF)
def test_a_hugging_face_tower_reads_its_grid_and_weights_from_its_folder(name, tmp_path):
    cfg = hf_tower(name, tmp_path)
    tower = build_vision_tower(cfg)
    _, size, grid, width = HF[name]
    assert (tower.grid, tower.width) == (grid, width)
    tokens = tower(torch.randn(2, 3, size, size))
    assert tokens.shape == (2, grid[0] * grid[1], width) and tokens.isfinite().all()
    video = tower(torch.randn(2, 3, 3, size, size))
    assert video.shape == (2, 3 * grid[0] * grid[1], width)
    assert not any(p.requires_grad for p in tower.visual.parameters())  # frozen by default
    planned = build_vision_tower(cfg, weights=False)  # planning: no weights read
    assert (planned.grid, planned.width) == (grid, width)


def test_hugging_face_weights_are_the_folders_and_pixels_get_its_statistics(tmp_path):
    cfg = hf_tower("dinov2", tmp_path)
    tower = build_vision_tower(cfg)
    reference = Dinov2Model.from_pretrained(tmp_path / "dinov2").eval()
    pixels = torch.randn(1, 3, 48, 48)  # CLIP-normalised, as the data pipeline gives them
    own = Renormalise(*IMAGENET)(pixels)
    expected = reference(pixel_values=own).last_hidden_state[:, 1:]  # without CLS
    torch.testing.assert_close(tower.patch_tokens(pixels), expected)
    # the conversion is the exact per-channel map: unnormalise with CLIP's, normalise with own
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    raw = pixels * torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    raw = raw + torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET)
    torch.testing.assert_close(own, (raw - mean) / std)


@pytest.mark.parametrize("name", TIMM)
def test_a_timm_tower_reads_its_grid_and_its_checkpoint(name, tmp_path):
    cfg = timm_tower(name, tmp_path)
    tower = build_vision_tower(cfg)
    size, grid, width = TIMM[name]
    assert (tower.grid, tower.width) == (grid, width)
    pixels = torch.randn(2, 3, size, size)
    tokens = tower(pixels)
    assert tokens.shape == (2, grid[0] * grid[1], width)
    # the trunk's own features, cell by cell (row-major), in its own statistics
    own = tower.renormalise(pixels) if tower.renormalise is not None else pixels
    features = tower.visual.forward_features(own)
    if name.startswith("vit"):
        expected = features[:, 1:]  # without CLS
    elif name.startswith("swin"):
        expected = features.flatten(1, 2)  # (N, H, W, C)
    else:
        expected = features.flatten(2).transpose(1, 2)  # (N, C, H, W)
    torch.testing.assert_close(tokens, expected)
    saved = timm.models.load_state_dict(str(cfg.checkpoint))
    for key, value in tower.visual.state_dict().items():
        if key in saved and saved[key].shape == value.shape:
            torch.testing.assert_close(value, saved[key], msg=key)
    assert sum(key in saved for key in tower.visual.state_dict()) > 10


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    cfg = timm_tower("efficientnet_lite0", tmp_path)
    wrong = cfg.model_copy(update={"timm_name": "mobilenetv3_small_050"})
    with pytest.raises(
        ValueError, match="is not a mobilenetv3_small_050 checkpoint: size mismatch for "
    ):
        build_vision_tower(wrong)


def test_each_family_takes_its_own_fields_only(tmp_path):
    with pytest.raises(ValidationError, match="family: timm needs model.vision.timm_name"):
        VisionConfig(family="timm", image_size=224)
    with pytest.raises(ValidationError, match="family: timm needs model.vision.checkpoint"):
        VisionConfig(family="timm", timm_name="efficientnet_lite0", image_size=224)
    with pytest.raises(ValidationError, match="set model.vision.family: timm, or remove"):
        VisionConfig(timm_name="efficientnet_lite0")
    with pytest.raises(ValidationError, match="family: hf needs model.vision.hf_path"):
        VisionConfig(family="hf", image_size=224)
    with pytest.raises(ValidationError, match="family: hf needs model.vision.image_size"):
        VisionConfig(family="hf", hf_path=tmp_path)


def test_a_hugging_face_folder_without_its_pixel_statistics_is_refused(tmp_path):
    cfg = hf_tower("siglip", tmp_path)
    (cfg.hf_path / "preprocessor_config.json").unlink()
    with pytest.raises(ValueError, match="has no preprocessor_config.json: the pixel mean"):
        build_vision_tower(cfg)


@pytest.mark.parametrize("connector", ["resampler", "avg_pool"])
def test_a_whole_model_on_a_hugging_face_tower_trains(connector, tmp_path, tokenizer, world):
    from lynx_core.model.llm import build_llm

    vision = hf_tower("siglip", tmp_path)
    # the world's 32 px renders go in at the tower's 48 px, as the pipeline resizes them
    cfg = ModelConfig(vision=vision, connector=connector)
    model = LynxModel(cfg, build_vision_tower(cfg.vision), build_llm(cfg.llm, tokenizer))
    batch = world.batch(world.questions()[:2], tokenizer)
    batch["pixels"] = torch.nn.functional.interpolate(batch["pixels"], size=48)
    model(**batch).loss.backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and not any(n.startswith("vision.visual.") for n in trainable)
    assert model.parameter_counts()["vision"] == sum(
        p.numel() for p in model.vision.visual.parameters()
    )


def test_a_checkpoint_lacking_trunk_weights_is_refused(tmp_path):
    cfg = timm_tower("efficientnet_lite0", tmp_path)
    state = timm.models.load_state_dict(str(cfg.checkpoint))
    save_file({k: v for k, v in state.items() if k != "conv_head.weight"}, str(cfg.checkpoint))
    with pytest.raises(ValueError, match=r"missing \['conv_head.weight'\], unexpected \[\]"):
        build_vision_tower(cfg)


def test_a_variant_on_a_hugging_face_tower_runs_every_stage(tmp_path):
    """Bases (no CLIP pretraining: the tower is given), stage 1, stage 2 and evaluation on a
    SigLIP-shaped tower read from its folder, with the MLP connector."""
    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES, bases_phases
    from lynx_core.train.bases import TOWER
    from tests.tiny import tiny_config

    siglip(tmp_path / "siglip")
    cfg = tiny_config(
        **{
            "model.vision.family": "hf",
            "model.vision.hf_path": str(tmp_path / "siglip"),
            "model.vision.image_size": 32,
            "model.connector": "mlp",
        }
    )
    assert "clip" not in bases_phases(cfg)
    folders = {stage: tmp_path / stage for stage in STAGES}
    outputs = {stage: run_stage(stage, cfg, folders, tmp_path / "cache") for stage in STAGES}
    assert not (folders["bases"] / TOWER).exists()  # (a toy tower's CLIP-pretrained weights)
    assert outputs["stage2"].history and all(
        torch.isfinite(torch.tensor(r["loss"])) for r in outputs["stage2"].history
    )
    overall = outputs["eval"].metrics["openvqa/overall"]
    assert 0 <= overall <= 100


def test_kept_tokens_are_named_by_the_towers_statistics_too(tmp_path):
    """Two folders with the same weights and other pixel statistics give other tokens: the
    feature cache's digest of the tower tells them apart."""
    from lynx_core.model.features import trunk_digest

    cfg = hf_tower("dinov2", tmp_path)
    first = trunk_digest(build_vision_tower(cfg))
    statistics(cfg.hf_path, [0.5] * 3, [0.5] * 3)
    assert trunk_digest(build_vision_tower(cfg)) != first
