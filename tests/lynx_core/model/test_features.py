"""The frozen-trunk feature cache changes where tokens are computed, never what a stage learns."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from lynx_core.config import VisionConfig
from lynx_core.model.features import CHUNK, FeatureCache, trunk_encoder
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


def test_an_unfrozen_trunk_is_never_cached():
    with pytest.raises(ValueError, match="frozen"):
        trunk_encoder(build_vision_tower(VisionConfig(frozen=False)))


@pytest.mark.parametrize("arch", ["prefix", "cross_attention"])
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
