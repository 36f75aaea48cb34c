"""The frozen-trunk feature cache changes where tokens are computed, never what a stage learns."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from lynx_core.config import VisionConfig
from lynx_core.data.files.computed import cache_file
from lynx_core.model.features import (
    CHUNK,
    FeatureCache,
    token_files,
    trunk_digest,
    trunk_encoder,
)
from lynx_core.model.vision import build_vision_tower
from lynx_core.pipeline import run_stage
from lynx_core.stages import STAGES
from tests.tiny import tiny_config


def test_a_video_through_the_cache_is_the_tower_output():
    torch.manual_seed(0)
    tower = build_vision_tower(VisionConfig(max_frames=4)).eval()
    clips = torch.randn(3, 4, 3, 32, 32)
    tokens = trunk_encoder(tower)(clips)
    assert tokens.shape == (3, 4, 16, tower.width)  # (B, T, P, W): frame embedding not yet in
    torch.testing.assert_close(tower.embed(tokens), tower(clips))


def test_cached_rows_do_not_depend_on_the_batch_that_asks():
    torch.manual_seed(0)
    tower = build_vision_tower(VisionConfig()).eval()
    images = torch.randn(CHUNK + 5, 3, 32, 32)  # two fill passes
    cache = FeatureCache(trunk_encoder(tower), lambda rows: images[rows], len(images))
    assert len(cache.tokens) == len(images)
    rows = [CHUNK + 3, 2, 2]
    torch.testing.assert_close(cache(rows), tower.trunk_tokens(images[rows]))


def test_kept_tokens_are_computed_once_per_trunk_and_media(tmp_path):
    """A stage run that asks for tokens another computed reads them: the same numbers, no
    trunk pass; a trunk with other weights names other tokens."""
    torch.manual_seed(0)
    tower = build_vision_tower(VisionConfig()).eval()
    images = torch.randn(CHUNK + 5, 3, 32, 32)
    passes: list[int] = []
    encode = trunk_encoder(tower)

    def counted(pixels: torch.Tensor) -> torch.Tensor:
        passes.append(len(pixels))
        return encode(pixels)

    file = cache_file(tmp_path, "trunk_tokens", trunk_digest(tower), "these images")
    first = FeatureCache(counted, lambda rows: images[rows], len(images), file)
    assert sum(passes) == len(images)
    again = FeatureCache(counted, lambda rows: images[rows], len(images), file)
    assert sum(passes) == len(images)  # read back, not recomputed
    computed = FeatureCache(encode, lambda rows: images[rows], len(images))
    torch.testing.assert_close(first.tokens, computed.tokens, rtol=0, atol=0)
    torch.testing.assert_close(again.tokens, computed.tokens, rtol=0, atol=0)

    before = trunk_digest(tower)
    with torch.no_grad():
        next(tower.parameters())[0].add_(1e-6)
    assert trunk_digest(tower) != before


def test_tokens_are_kept_in_fp32_only_and_named_by_the_trunk(tmp_path):
    tower = build_vision_tower(VisionConfig()).eval()
    assert token_files(tower, None, "trunk_tokens", "cpu fp32", fp32=True) is None
    assert token_files(tower, tmp_path, "trunk_tokens", "cuda bf16", fp32=False) is None
    files = token_files(tower, tmp_path, "trunk_tokens", "cpu fp32", fp32=True)
    assert files("media") == cache_file(
        tmp_path, "trunk_tokens", trunk_digest(tower), "cpu fp32", "media"
    )


def test_an_unfrozen_trunk_is_never_cached():
    with pytest.raises(ValueError, match="frozen"):
        trunk_encoder(build_vision_tower(VisionConfig(frozen=False)))


@pytest.mark.parametrize(
    "arch",
    ["prefix", pytest.param("cross_attention", marks=pytest.mark.slow)],  # time: ~12 s
)
def test_stages_train_and_evaluate_the_same_with_and_without_the_cache(tmp_path, arch):
    torch.set_num_threads(1)
    results = {}
    for cached in (True, False):
        cfg = tiny_config(
            **{
                "model.arch": arch,
                "train.feature_cache": cached,
                "train.bases.steps": 5,
                "train.instruct.steps": 0,
                "train.clip.steps": 5,
            }
        )
        root = tmp_path / str(cached)
        folders = {stage: root / stage for stage in STAGES}
        metrics = {}
        for stage in STAGES:
            metrics.update(run_stage(stage, cfg, folders, tmp_path / "cache").metrics)
        weights = load_file(folders["stage2"] / "trainable.safetensors")
        results[cached] = ({k: v for k, v in metrics.items() if "wall_time" not in k}, weights)
    (with_metrics, with_weights), (plain_metrics, plain_weights) = results[True], results[False]
    assert with_weights.keys() == plain_weights.keys()
    for name, value in with_weights.items():
        torch.testing.assert_close(value, plain_weights[name], rtol=1e-4, atol=1e-5)
    assert with_metrics.keys() == plain_metrics.keys()
    for name, value in with_metrics.items():  # answers decode to the same tokens
        assert value == pytest.approx(plain_metrics[name], rel=1e-3, abs=1e-3), name
