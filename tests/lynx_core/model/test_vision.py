"""Vision tower: token counts per resolution, video frames, checkpoint resizing, freezing."""

from __future__ import annotations

import open_clip
import pytest
import torch

from lynx_core.config import VisionConfig
from lynx_core.model.vision import build_clip, build_vision_tower


@pytest.mark.parametrize(("size", "patches"), [(32, 16), (48, 36), (64, 64)])
def test_image_tokens_follow_the_resolution(size, patches):
    tower = build_vision_tower(VisionConfig(image_size=size))
    tokens = tower(torch.randn(2, 3, size, size))
    assert tokens.shape == (2, patches, tower.width)


def test_video_frames_are_concatenated_with_frame_positions():
    tower = build_vision_tower(VisionConfig(image_size=32, max_frames=5))
    frame = torch.randn(1, 1, 3, 32, 32)
    video = frame.expand(1, 3, 3, 32, 32)  # three identical frames
    tokens = tower(video)
    assert tokens.shape == (1, 3 * 16, tower.width)
    per_frame = tokens.view(1, 3, 16, -1)
    # identical pixels, different frame embeddings → different tokens per frame
    assert not torch.allclose(per_frame[:, 0], per_frame[:, 1])
    delta = per_frame[:, 1] - per_frame[:, 0]
    expected = (tower.frame_embed[1] - tower.frame_embed[0]).expand_as(delta)
    torch.testing.assert_close(delta, expected)


def test_a_clips_frames_differ_by_about_a_token_from_the_start():
    """Frame embeddings on the trunk tokens' scale (open_flamingo's std 1): at the old 0.02,
    2% of a token, whether a seed ever learned frame order was chance."""
    torch.manual_seed(0)
    tower = build_vision_tower(VisionConfig(image_size=32, max_frames=4))
    trunk = tower.trunk_tokens(torch.rand(8, 4, 3, 32, 32))
    apart = (tower.frame_embed[1:] - tower.frame_embed[:-1]).pow(2).mean().sqrt()
    assert apart > 0.5 * trunk.pow(2).mean().sqrt()
    small = build_vision_tower(VisionConfig(image_size=32, frame_embed_std=0.02))
    assert (small.frame_embed[1:] - small.frame_embed[:-1]).pow(2).mean().sqrt() < 0.05


def test_too_many_frames_is_a_clear_error():
    tower = build_vision_tower(VisionConfig(image_size=32, max_frames=2))
    with pytest.raises(ValueError, match="max_frames"):
        tower(torch.randn(1, 3, 3, 32, 32))


def test_frozen_trunk_gets_no_gradient_but_frame_embedding_does():
    tower = build_vision_tower(VisionConfig(image_size=32))
    tower.train()
    assert not tower.visual.training  # frozen trunk stays in eval mode
    tower(torch.randn(1, 2, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in tower.visual.parameters())
    assert tower.frame_embed.grad is not None


def test_checkpoint_at_another_resolution_has_position_embeddings_interpolated(tmp_path):
    torch.manual_seed(0)
    small = build_clip(VisionConfig(image_size=32))
    path = tmp_path / "tiny_clip.pt"
    torch.save({"state_dict": small.state_dict()}, path)
    big = build_vision_tower(VisionConfig(image_size=48, checkpoint=path))
    assert big.visual.positional_embedding.shape == (1 + 36, big.width)
    assert big(torch.randn(1, 3, 48, 48)).shape == (1, 36, big.width)
    # the class-token embedding and all non-positional weights are the checkpoint's
    torch.testing.assert_close(
        big.visual.positional_embedding[0], small.visual.positional_embedding[0]
    )
    torch.testing.assert_close(big.visual.conv1.weight, small.visual.conv1.weight)
    same = build_vision_tower(VisionConfig(image_size=32, checkpoint=path))
    torch.testing.assert_close(same.visual.positional_embedding, small.visual.positional_embedding)


def test_named_open_clip_configs_are_accepted():
    assert "EVA01-g-14" in open_clip.list_models()
    with pytest.raises(ValueError, match="unknown open_clip model"):
        build_vision_tower(VisionConfig(open_clip_name="not-a-model"))


def test_a_trained_trunk_moves_at_its_own_learning_rate_and_a_frozen_one_takes_none():
    """`lr_scale` 0.1: AdamW's first step moves each weight by about its group's rate, so
    the trunk's weights move a tenth as far as the frame embedding's; the scale is refused
    on a frozen tower, where it would do nothing."""
    from lynx_core.config import StageConfig
    from lynx_core.train.optimization import TorchOptimization

    tower = build_vision_tower(VisionConfig(frozen=False, lr_scale=0.1))
    params = [p for p in tower.parameters() if p.requires_grad]
    optimization = TorchOptimization(params, StageConfig(steps=10, lr=1e-2, warmup_steps=0))
    before = [p.detach().clone() for p in params]
    tower(torch.randn(2, 4, 3, 32, 32)).square().mean().backward()
    optimization.step()
    low, high = sorted(optimization.schedule.get_last_lr())
    assert low == pytest.approx(0.1 * high)
    moved = {
        id(p): (p.detach() - b).abs().max().item() for p, b in zip(params, before, strict=True)
    }
    trunk = max(moved[id(p)] for p in tower.visual.parameters())
    assert moved[id(tower.frame_embed)] == pytest.approx(10 * trunk, rel=0.05)
    with pytest.raises(ValueError, match="no effect on a frozen tower"):
        VisionConfig(lr_scale=0.1)
