"""Vision trunks from other families than open_clip: timm models (a named architecture and
its weights file) and Hugging Face vision models (CLIP, SigLIP, DINOv2, ... from a local
folder). Never downloaded: timm is asked for no pretrained weights and transformers reads
only the given folder.

A trunk is what `lynx_core.model.vision.VisionTower` wraps: the module holding the weights,
how to read its patch tokens (N, P, width), its width and its patch grid (rows, columns) at
the configured resolution, all read from the model itself, and the map into its pixel
statistics.
The data pipeline normalises pixels once, with CLIP's mean and std
(`lynx_core.data.batches.to_pixels`); a tower trained with other statistics (ImageNet's for
DINOv2 and timm's CNNs, 0.5 for SigLIP) gets them converted to its own on the way in, an
exact per-channel affine map. Not here: frames, the frame embedding, freezing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import nn

from lynx_core.config import VisionConfig
from lynx_core.unpickle import tensors_only

TokenReader = Callable[[nn.Module, torch.Tensor], torch.Tensor]
PROCESSOR = "preprocessor_config.json"


@dataclass(frozen=True)
class Trunk:
    visual: nn.Module  # the pretrained weights: frozen, or trained with the connector
    read: TokenReader  # (visual, (N, 3, H, W) pixels in its own statistics) → (N, P, width)
    width: int
    grid: tuple[int, int]  # patches per frame, rows × columns
    # CLIP-normalised pixels → the trunk's own statistics; None where they are CLIP's
    renormalise: nn.Module | None = None


class Renormalise(nn.Module):
    """CLIP-normalised pixels → pixels normalised with a tower's own mean and std."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        clip_mean, clip_std = torch.tensor(OPENAI_DATASET_MEAN), torch.tensor(OPENAI_DATASET_STD)
        own_mean, own_std = (
            torch.tensor(mean, dtype=torch.float),
            torch.tensor(std, dtype=torch.float),
        )
        # x_own = (x·σ_clip + μ_clip − μ_own) / σ_own = x·scale + shift
        # persistent: in the tower's state, so the feature cache's digest of it (which names
        # the kept tokens) tells two towers apart that differ only in their statistics
        self.register_buffer("scale", (clip_std / own_std).view(1, 3, 1, 1))
        self.register_buffer("shift", ((clip_mean - own_mean) / own_std).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels * self.scale.to(pixels.dtype) + self.shift.to(pixels.dtype)


def to_own_statistics(mean, std) -> Renormalise | None:
    """The map into a trunk's own pixel statistics; None where they are CLIP's (or unknown,
    for a timm architecture that declares none)."""
    if mean is None or std is None:
        return None
    if tuple(mean) == tuple(OPENAI_DATASET_MEAN) and tuple(std) == tuple(OPENAI_DATASET_STD):
        return None
    return Renormalise(mean, std)


# timm


def _timm_map(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The trunk's last features: a feature map (N, H, W, C) or tokens (N, L, C)."""
    out = visual.forward_features(pixels)
    if out.dim() == 4 and getattr(visual, "output_fmt", "NCHW") != "NHWC":
        out = out.permute(0, 2, 3, 1)  # most CNNs give NCHW; Swin-like trunks NHWC already
    return out


def _timm_features(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """A feature map's H·W cells as tokens (row-major); a ViT's tokens without its class
    and register tokens."""
    out = _timm_map(visual, pixels)
    if out.dim() == 4:
        return out.flatten(1, 2)
    return out[:, getattr(visual, "num_prefix_tokens", 0) :]


def _timm_model(cfg: VisionConfig) -> nn.Module:
    """The architecture (a pretrained tag such as 'convnext_base.clip_laion2b' picks its
    pixel statistics), built without weights and without a classifier head."""
    import timm

    if not timm.is_model(cfg.timm_name):
        raise ValueError(f"model.vision.timm_name {cfg.timm_name!r} is not a timm architecture")
    return timm.create_model(cfg.timm_name, pretrained=False, num_classes=0)


def _at_size(model: nn.Module, size: int) -> nn.Module:
    """A ViT's position embeddings resized to `size` px, after its weights are in (timm
    interpolates them); a CNN takes any size as it is."""
    if hasattr(model, "set_input_size"):
        model.set_input_size(img_size=size)
    return model


def _load_timm_weights(model: nn.Module, path: Path) -> None:
    """The checkpoint's weights, its classifier head left out (the trunk has none): every
    trunk weight must be there, and nothing else."""
    from timm.models import load_state_dict

    with tensors_only(path):
        state = load_state_dict(str(path))
    head = model.pretrained_cfg.get("classifier")
    heads = (head,) if isinstance(head, str) else tuple(head or ())
    state = {k: v for k, v in state.items() if not k.startswith(tuple(f"{h}." for h in heads))}
    refusal = f"{path} is not a {model.pretrained_cfg.get('architecture')} checkpoint"
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # weights of other shapes
        first = [line.strip() for line in str(err).splitlines()[1:3]]
        raise ValueError(f"{refusal}: {'; '.join(first)}") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{refusal}: missing {sorted(result.missing_keys)[:3]}, unexpected "
            f"{sorted(result.unexpected_keys)[:3]}"
        )


def timm_trunk(cfg: VisionConfig, weights: bool = True) -> Trunk:
    model = _timm_model(cfg)
    if weights and cfg.checkpoint is not None:
        _load_timm_weights(model, cfg.checkpoint)
    model = _at_size(model, cfg.image_size)
    with torch.device("meta"):  # the shapes, from a forward pass of the same architecture
        shapes = _at_size(_timm_model(cfg), cfg.image_size)
        pixels = torch.zeros(1, 3, cfg.image_size, cfg.image_size)
        features, tokens = _timm_map(shapes, pixels), _timm_features(shapes, pixels)
    grid = _timm_grid(model, features, tokens.shape[1], cfg)
    if tokens.shape[-1] != model.num_features:
        raise ValueError(
            f"model.vision.timm_name {cfg.timm_name!r}: its features are {tokens.shape[-1]} "
            f"wide, not the {model.num_features} it declares; choose another architecture"
        )
    mean, std = model.pretrained_cfg.get("mean"), model.pretrained_cfg.get("std")
    return Trunk(model, _timm_features, model.num_features, grid, to_own_statistics(mean, std))


def _timm_grid(
    model: nn.Module, features: torch.Tensor, tokens: int, cfg: VisionConfig
) -> tuple[int, int]:
    """A feature map's own rows × columns; a ViT's patch grid, which must account for
    every token after its class and register tokens."""
    if features.dim() == 4:
        return features.shape[1], features.shape[2]
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None or grid[0] * grid[1] != tokens:
        raise ValueError(
            f"model.vision.timm_name {cfg.timm_name!r} gives {tokens} tokens at "
            f"{cfg.image_size} px that are not its patch grid {grid}; choose a ViT or a CNN"
        )
    return tuple(grid)


# Hugging Face


def _hf_model(path: Path, weights: bool) -> tuple[nn.Module, object]:
    """The vision model (a whole CLIP or SigLIP gives its vision half) and its config."""
    from transformers import AutoConfig, AutoModel

    if weights:  # in fp32 as the other towers, whatever dtype the folder was saved in
        with tensors_only(path):
            model = AutoModel.from_pretrained(path, dtype=torch.float32)
    else:
        model = AutoModel.from_config(AutoConfig.from_pretrained(path))
    config = getattr(model.config, "vision_config", model.config)
    return getattr(model, "vision_model", model), config


def hf_statistics(path: Path) -> tuple[list[float], list[float]]:
    """The pixel mean and std the model was trained with, from its image processor's file:
    without them its inputs would be normalised as CLIP's, silently (SigLIP's are 0.5)."""
    import json

    processor = path / PROCESSOR
    if not processor.is_file():
        raise ValueError(
            f"model.vision.hf_path {path} has no {PROCESSOR}: the pixel mean and std the "
            "model was trained with are unknown; copy the model's image processor file there"
        )
    values = json.loads(processor.read_text())
    mean, std = values.get("image_mean"), values.get("image_std")
    if mean is None or std is None:
        raise ValueError(f"{processor} lacks image_mean or image_std")
    return _rgb(mean), _rgb(std)


def _rgb(value: float | list[float]) -> list[float]:
    return [float(value)] * 3 if isinstance(value, int | float) else [float(v) for v in value]


def hf_trunk(cfg: VisionConfig, weights: bool = True) -> Trunk:
    path = cfg.hf_path
    visual, config = _hf_model(path, weights)
    patch = getattr(config, "patch_size", None)
    if not isinstance(patch, int):
        raise ValueError(
            f"model.vision.hf_path {path} is a {config.model_type} model without one patch "
            "size: a ViT-style vision model (CLIP, SigLIP, DINOv2, ...) is expected"
        )
    if cfg.image_size % patch:
        raise ValueError(
            f"model.vision.image_size {cfg.image_size} is not a multiple of {path.name}'s "
            f"patch size {patch}"
        )
    grid = (cfg.image_size // patch, cfg.image_size // patch)
    interpolate = cfg.image_size != config.image_size
    if interpolate and "interpolate_pos_encoding" in inspect.signature(visual.forward).parameters:
        options = {"interpolate_pos_encoding": True}
    else:
        options = {}  # (DINOv2 interpolates by itself)

    patches = grid[0] * grid[1]
    prefixes = {0, 1 + getattr(config, "num_register_tokens", 0)}  # none, or CLS + registers

    def read(module: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        hidden = module(pixel_values=pixels, **options).last_hidden_state
        if hidden.dim() != 3 or hidden.shape[1] - patches not in prefixes:
            raise ValueError(
                f"model.vision.hf_path {path}: its output {tuple(hidden.shape)} is not "
                f"{patches} patch tokens after {' or '.join(map(str, sorted(prefixes)))} others"
            )
        return hidden[:, hidden.shape[1] - patches :]  # without CLS or registers

    renormalise = to_own_statistics(*hf_statistics(path))
    return Trunk(visual, read, config.hidden_size, grid, renormalise)
