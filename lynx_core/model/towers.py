"""Vision trunks from other families than open_clip: timm models (a named architecture and
its weights file) and Hugging Face vision models (CLIP, SigLIP, DINOv2, ... from a local
folder). Never downloaded: timm is asked for no pretrained weights and transformers reads
only the given folder.

A trunk is what `lynx_core.model.vision.VisionTower` wraps: the module holding the weights,
how to read its patch tokens (N, P, width) from CLIP-normalised pixels, its width and its
patch grid (rows, columns) at the configured resolution, all read from the model itself.
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


@dataclass(frozen=True)
class Trunk:
    visual: nn.Module  # the pretrained weights: frozen, or trained with the connector
    read: TokenReader  # (visual, (N, 3, H, W) CLIP-normalised pixels) → (N, P, width)
    width: int
    grid: tuple[int, int]  # patches per frame, rows × columns


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
        self.register_buffer("scale", (clip_std / own_std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "shift", ((clip_mean - own_mean) / own_std).view(1, 3, 1, 1), persistent=False
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels * self.scale.to(pixels.dtype) + self.shift.to(pixels.dtype)


def _in_own_statistics(read: TokenReader, mean, std) -> TokenReader:
    if mean is None or std is None:
        return read
    if tuple(mean) == tuple(OPENAI_DATASET_MEAN) and tuple(std) == tuple(OPENAI_DATASET_STD):
        return read
    renormalise = Renormalise(mean, std)
    return lambda visual, pixels: read(visual, renormalise.to(pixels.device)(pixels))


# timm


def _timm_features(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """A CNN's last feature map (N, C, H, W) as H·W tokens; a ViT's tokens without its
    class and register tokens."""
    out = visual.forward_features(pixels)
    if out.dim() == 4:
        return out.flatten(2).transpose(1, 2)
    return out[:, getattr(visual, "num_prefix_tokens", 0) :]


def _timm_model(cfg: VisionConfig) -> nn.Module:
    import timm

    if cfg.timm_name not in timm.list_models():
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
    with torch.device("meta"):  # the grid, from a forward pass of the same architecture's shapes
        shapes = _at_size(_timm_model(cfg), cfg.image_size)
        shape = _timm_features(shapes, torch.zeros(1, 3, cfg.image_size, cfg.image_size))
    grid = _timm_grid(model, cfg.image_size, shape.shape[1])
    mean, std = model.pretrained_cfg.get("mean"), model.pretrained_cfg.get("std")
    return Trunk(model, _in_own_statistics(_timm_features, mean, std), model.num_features, grid)


def _timm_grid(model: nn.Module, size: int, tokens: int) -> tuple[int, int]:
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and getattr(patch_embed, "grid_size", None) is not None:
        return tuple(patch_embed.grid_size)
    side = round(tokens**0.5)  # a CNN on a square input: a square feature map
    return side, tokens // side


# Hugging Face


def _hf_model(path: Path, weights: bool) -> tuple[nn.Module, object]:
    """The vision model (a whole CLIP or SigLIP gives its vision half) and its config."""
    from transformers import AutoConfig, AutoModel

    if weights:
        with tensors_only(path):
            model = AutoModel.from_pretrained(path)
    else:
        model = AutoModel.from_config(AutoConfig.from_pretrained(path))
    config = getattr(model.config, "vision_config", model.config)
    return getattr(model, "vision_model", model), config


def _hf_statistics(path: Path) -> tuple[list[float] | None, list[float] | None]:
    """The image processor's mean and std, where the folder has one."""
    import json

    processor = path / "preprocessor_config.json"
    if not processor.is_file():
        return None, None
    values = json.loads(processor.read_text())
    return values.get("image_mean"), values.get("image_std")


def hf_trunk(cfg: VisionConfig, weights: bool = True) -> Trunk:
    path = cfg.hf_path
    visual, config = _hf_model(path, weights)
    patch = config.patch_size
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

    def read(module: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        hidden = module(pixel_values=pixels, **options).last_hidden_state
        return hidden[:, hidden.shape[1] - grid[0] * grid[1] :]  # without CLS or registers

    return Trunk(visual, _in_own_statistics(read, *_hf_statistics(path)), config.hidden_size, grid)
