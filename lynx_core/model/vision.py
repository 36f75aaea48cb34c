"""Vision tower: an image encoder that returns patch tokens, for images and videos.

The trunk comes from open_clip so that any of its model configs plugs in unchanged (a tiny
custom ViT at toy scale, EVA ViT-g/14, a timm trunk inside open_clip, for the paper), or from
timm or a Hugging Face vision model (`model.vision.family`; `lynx_core.model.towers`). The
input resolution is a config value; a checkpoint made at another resolution has its position
embeddings interpolated on load. A video is T frames encoded one by one, plus a learned
frame-position embedding (as in Lynx), concatenated along the token axis. The trunk is
frozen by default; the frame embedding is new and always trains. Not here: the connector and
anything that maps tokens into the LLM.
"""

from __future__ import annotations

from collections.abc import Callable

import open_clip
import torch
from open_clip.model import CLIPTextCfg, CLIPVisionCfg, _build_vision_tower
from open_clip.timm_model import TimmModel
from torch import nn

from lynx_core.config import VisionConfig
from lynx_core.model.towers import Trunk, hf_trunk, timm_trunk
from lynx_core.unpickle import tensors_only

TOY_EMBED_DIM = 64
TOY_TEXT = CLIPTextCfg(context_length=16, vocab_size=512, width=64, heads=2, layers=1)


def _toy_vision_cfg(cfg: VisionConfig) -> CLIPVisionCfg:
    return CLIPVisionCfg(
        layers=cfg.layers,
        width=cfg.width,
        head_width=cfg.head_width,
        patch_size=cfg.patch_size,
        image_size=cfg.image_size,
    )


def build_clip(cfg: VisionConfig) -> nn.Module:
    """A whole CLIP (image + text towers), e.g. for CLIP-pretraining the toy tower."""
    if cfg.open_clip_name is not None:
        with tensors_only(cfg.checkpoint or cfg.open_clip_name):
            model = open_clip.create_model(
                cfg.open_clip_name,
                pretrained=str(cfg.checkpoint) if cfg.checkpoint else None,
                force_image_size=cfg.image_size,
            )
        at_resolution(model.visual, cfg.image_size)
        return model
    model = open_clip.CLIP(
        embed_dim=TOY_EMBED_DIM, vision_cfg=_toy_vision_cfg(cfg), text_cfg=TOY_TEXT
    )
    if cfg.checkpoint is not None:  # resizes position embeddings to cfg.image_size
        with tensors_only(cfg.checkpoint):
            open_clip.load_checkpoint(model, str(cfg.checkpoint), weights_only=True)
    return model


def build_visual(cfg: VisionConfig) -> nn.Module:
    """Just the image trunk. Without a checkpoint no text tower is built (cheap, meta-safe)."""
    if cfg.checkpoint is not None:
        return build_clip(cfg).visual
    if cfg.open_clip_name is None:
        return _build_vision_tower(TOY_EMBED_DIM, _toy_vision_cfg(cfg))
    model_cfg = open_clip.get_model_config(cfg.open_clip_name)
    if model_cfg is None:
        raise ValueError(
            f"unknown open_clip model {cfg.open_clip_name!r}; "
            f"known: {', '.join(open_clip.list_models())}"
        )
    vision_cfg = {**model_cfg["vision_cfg"], "image_size": cfg.image_size}
    return at_resolution(_build_vision_tower(model_cfg["embed_dim"], vision_cfg), cfg.image_size)


def at_resolution(visual: nn.Module, size: int) -> nn.Module:
    """A timm trunk (EVA ViT-g inside open_clip) at `size` px. open_clip records the size
    asked for but does not pass it to timm, which builds the trunk at its name's size (224)
    and refuses other inputs; timm resizes it after the weights are in, interpolating the
    position embeddings (Lynx: 224 → 420, a 16x16 → 30x30 grid). open_clip's own ViTs are
    built and loaded at `size` already."""
    if isinstance(visual, TimmModel) and tuple(visual.trunk.patch_embed.img_size) != (size, size):
        visual.set_input_size(size)
    return visual


# How to read patch tokens (without class/prefix tokens) and the width of each open_clip trunk.


def _open_clip_tokens(visual: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = visual.forward_intermediates(x, indices=1, output_fmt="NLC", intermediates_only=True)
    return out["image_intermediates"][-1]


def _timm_tokens(visual: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return visual.trunk.forward_intermediates(
        x, indices=1, output_fmt="NLC", intermediates_only=True
    )[-1]


def open_clip_trunk(cfg: VisionConfig, weights: bool = True) -> Trunk:
    visual = build_visual(cfg if weights else cfg.model_copy(update={"checkpoint": None}))
    if isinstance(visual, TimmModel):
        grid = tuple(visual.trunk.patch_embed.grid_size)
        return Trunk(visual, _timm_tokens, visual.trunk.embed_dim, grid)
    return Trunk(visual, _open_clip_tokens, visual.transformer.width, tuple(visual.grid_size))


# `model.vision.family` → its trunk, with (weights=True) or without the user's weights
TRUNKS: dict[str, Callable[[VisionConfig, bool], Trunk]] = {
    "open_clip": open_clip_trunk,
    "timm": timm_trunk,
    "hf": hf_trunk,
}


# a parameter's learning rate as a multiple of the stage's, set where the module that owns it
# is built (a trained trunk's `model.vision.lr_scale`); 1 where unset. An attribute of the
# parameter, so that every optimizer (plain, data-parallel, ZeRO) groups by it alike
# (`lynx_core.train.optimization.optimizer_and_schedule`)
LR_SCALE = "lr_scale"


def lr_scale_of(param: nn.Parameter) -> float:
    """The parameter's learning-rate scale (`LR_SCALE`), 1 where none was set."""
    return getattr(param, LR_SCALE, 1.0)


class VisionTower(nn.Module):
    """(B, 3, H, W) image → (B, P, width); (B, T, 3, H, W) video → (B, T·P, width)."""

    def __init__(
        self,
        trunk: Trunk,
        max_frames: int = 1,
        frozen: bool = True,
        *,
        frame_std: float,
        lr_scale: float = 1.0,
    ):
        """`frame_std`: the frame embeddings' initial scale (`VisionConfig.frame_embed_std`
        holds the default and why); `lr_scale`: a trained trunk's learning rate as a multiple
        of the stage's, carried by its parameters (`LR_SCALE`)."""
        super().__init__()
        self.visual = trunk.visual
        self.read_tokens, self.width, self.grid = trunk.read, trunk.width, trunk.grid
        # a submodule: its statistics move with the tower and are in its weights' digest
        self.renormalise = trunk.renormalise
        self.frozen = frozen
        self.frame_embed = nn.Parameter(torch.zeros(max_frames, self.width))
        nn.init.trunc_normal_(self.frame_embed, std=frame_std)
        if frozen:
            self.visual.requires_grad_(False)
            self.visual.eval()
        for param in self.visual.parameters():
            setattr(param, LR_SCALE, lr_scale)

    def train(self, mode: bool = True) -> VisionTower:
        super().train(mode)
        if self.frozen:  # a frozen trunk keeps eval behaviour (dropout, drop-path off)
            self.visual.eval()
        return self

    def patch_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) CLIP-normalised pixels → (N, P, width), P = the grid's cells."""
        if self.renormalise is not None:
            pixels = self.renormalise(pixels)
        with torch.set_grad_enabled(not self.frozen and torch.is_grad_enabled()):
            return self.read_tokens(self.visual, pixels)

    def trunk_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """The trunk's output alone: image (B, 3, H, W) → (B, P, W); video (B, T, 3, H, W) →
        (B, T, P, W). With a frozen trunk this is a pure function of the pixels, so callers
        may compute it once per media item and cache it (`lynx_core.model.features`)."""
        if pixels.dim() == 4:
            return self.patch_tokens(pixels)
        if pixels.dim() != 5:
            raise ValueError(f"pixels must be (B,3,H,W) or (B,T,3,H,W); got {tuple(pixels.shape)}")
        return self.patch_tokens(pixels.flatten(0, 1)).unflatten(0, pixels.shape[:2])

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Trunk tokens → the tower's output: a video's frames get their learned position
        embedding and are concatenated along the token axis; an image's pass unchanged."""
        if tokens.dim() == 3:
            return tokens
        frames = tokens.shape[1]
        if frames > self.frame_embed.shape[0]:
            raise ValueError(
                f"video has {frames} frames; the tower was built for at most "
                f"{self.frame_embed.shape[0]} (model.vision.max_frames)"
            )
        tokens = tokens + self.frame_embed[:frames, None, :].to(tokens.dtype)  # (B, T, P, W)
        return tokens.flatten(1, 2)  # (B, T·P, W): one resampler pass over the whole clip

    def forward(
        self, pixels: torch.Tensor | None = None, patches: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pixels, or the trunk's tokens computed earlier (`patches`), → the tower's output.
        Both go through this call, so hooks on the tower (ZeRO-3 gathering the frame
        embedding) see either."""
        return self.embed(self.trunk_tokens(pixels) if patches is None else patches)


def build_vision_tower(cfg: VisionConfig, weights: bool = True) -> VisionTower:
    """The configured tower; `weights=False` builds it without reading the user's weights
    (planning, checks: on the meta device)."""
    trunk = TRUNKS[cfg.family](cfg, weights)
    return VisionTower(
        trunk,
        cfg.max_frames,
        frozen=cfg.frozen,
        frame_std=cfg.frame_embed_std,
        lr_scale=cfg.lr_scale,
    )
