"""Vision tower: an open_clip image encoder that returns patch tokens.

The tower comes from open_clip so that any of its model configs (a tiny custom ViT for toy
scale, EVA ViT-g/14 for the paper) plugs in unchanged. It is frozen by default. Not here:
the resampler and anything that maps tokens into the LLM.
"""

from __future__ import annotations

import open_clip
import torch
from open_clip.model import CLIPTextCfg, CLIPVisionCfg
from torch import nn

from lynx_core.config import VisionConfig

TOY_EMBED_DIM = 64


def build_clip(cfg: VisionConfig, vocab_size: int = 512) -> nn.Module:
    """A whole CLIP (image + text towers): toy scale can CLIP-pretrain it before use."""
    if cfg.open_clip_name is not None:
        model = open_clip.create_model(
            cfg.open_clip_name,
            pretrained=str(cfg.checkpoint) if cfg.checkpoint else None,
            force_image_size=cfg.image_size,
        )
        return model
    vision = CLIPVisionCfg(
        layers=cfg.layers,
        width=cfg.width,
        head_width=cfg.head_width,
        patch_size=cfg.patch_size,
        image_size=cfg.image_size,
    )
    text = CLIPTextCfg(context_length=16, vocab_size=vocab_size, width=64, heads=2, layers=1)
    model = open_clip.CLIP(embed_dim=TOY_EMBED_DIM, vision_cfg=vision, text_cfg=text)
    if cfg.checkpoint is not None:
        model.load_state_dict(torch.load(cfg.checkpoint, map_location="cpu", weights_only=True))
    return model


class VisionTower(nn.Module):
    """Wraps an open_clip visual trunk; `forward` gives the last layer's patch tokens."""

    def __init__(self, visual: nn.Module, frozen: bool = True):
        super().__init__()
        self.visual = visual
        self.frozen = frozen
        if frozen:
            self.visual.requires_grad_(False)
            self.visual.eval()

    @property
    def width(self) -> int:
        return self.visual.transformer.width

    def train(self, mode: bool = True) -> VisionTower:
        super().train(mode)
        if self.frozen:  # a frozen tower keeps eval-mode behaviour (dropout off) while training
            self.visual.eval()
        return self

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → patch tokens (B, P, width), without the class token."""
        with torch.set_grad_enabled(not self.frozen and torch.is_grad_enabled()):
            out = self.visual.forward_intermediates(
                pixels, indices=1, output_fmt="NLC", intermediates_only=True
            )
        return out["image_intermediates"][-1]


def build_vision_tower(cfg: VisionConfig) -> VisionTower:
    return VisionTower(build_clip(cfg).visual, frozen=cfg.frozen)
