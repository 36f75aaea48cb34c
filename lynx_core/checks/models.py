"""Checks of the models a variant names: the LLM folder and the vision tower, each built on
the meta device from its config as a stage would build it (no weights read), so that a model
lacking what the variant needs is refused before compute, with transformers', timm's or
open_clip's own reason."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from lynx_core.checks.findings import Finding, json_object
from lynx_core.config import VariantConfig

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")


def llm_folder(cfg: VariantConfig) -> list[Finding]:
    """A local LLM is a `from_pretrained` folder: config.json, weights, a tokenizer; a
    causal LM transformers can build, whose decoder layers hold the adapters and
    cross-attention the variant places."""
    path = cfg.model.llm.path
    if path is None:
        return []
    field = "model.llm.path"
    if not path.is_dir():
        return [Finding(field, f"{path} is not a folder; give the model's from_pretrained folder")]
    _, problem = json_object(path / "config.json")
    if problem:
        return [Finding(field, f"{path} holds no usable model: config.json {problem}")]
    found = []
    if not any(next(path.glob(p), None) for p in WEIGHT_FILES):
        found.append(Finding(field, f"{path} holds no weights ({', '.join(WEIGHT_FILES)})"))
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        found.append(Finding(field, f"{path} holds no tokenizer ({', '.join(TOKENIZER_FILES)})"))
    try:
        text, layers_found = _causal_lm_on_meta(path)
    except Exception as err:  # noqa: BLE001 - transformers refuses in many ways; each is told
        return [*found, Finding(field, f"{path} is not a causal LM transformers can build: {err}")]
    width, layers = text.hidden_size, text.num_hidden_layers
    found += [Finding(f, why) for f, why in cfg.model.misfits(layers, width, path.name)]
    places = cfg.model.adapters.enabled or cfg.model.arch == "cross_attention"
    if places and isinstance(layers_found, str):
        found.append(Finding(field, f"{path}: {layers_found}"))
    if cfg.model.llm.prompt_template == "chat_template" and not found:
        found += _chat_template(path)
    return found


def _chat_template(path: Path) -> list[Finding]:
    """The tokenizer's chat template, cut into turns as training and evaluation will."""
    from lynx_core.data.dialogue import chat_dialogue
    from lynx_core.model.llm import load_tokenizer

    try:
        chat_dialogue(load_tokenizer(path))
    except Exception as err:  # noqa: BLE001 - a tokenizer or template refuses in many ways
        return [Finding("model.llm.prompt_template", f"{path}'s tokenizer: {err}")]
    return []


def _causal_lm_on_meta(path: Path):
    """(its text config, its decoder layers or why they cannot be found)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from lynx_core.model.llm import decoder_layers

    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    try:
        layers = decoder_layers(model)
    except ValueError as err:
        layers = str(err)
    return config.get_text_config(), layers


def vision_tower(cfg: VariantConfig) -> list[Finding]:
    """A named tower must be one its family knows (open_clip's model configs, timm's
    architectures), a checkpoint a file, a Hugging Face tower a folder with its config;
    then a timm or HF tower is built on the meta device as a stage would build it, and an
    `avg_pool` connector may make no more cells than its patch grid has."""
    vision = cfg.model.vision
    found = []
    if vision.checkpoint is not None and not vision.checkpoint.is_file():
        what = "an open_clip .pt" if vision.family == "open_clip" else "timm's state dict"
        found.append(
            Finding("model.vision.checkpoint", f"{vision.checkpoint} is not a file ({what})")
        )
    if vision.hf_path is not None and not (vision.hf_path / "config.json").is_file():
        found.append(
            Finding(
                "model.vision.hf_path",
                f"{vision.hf_path} holds no config.json (a from_pretrained folder)",
            )
        )
    if vision.timm_name is not None:
        found += _known(
            "model.vision.timm_name", vision.timm_name, timm_models(), "timm.list_models()"
        )
    if vision.open_clip_name is not None:
        found += _known(
            "model.vision.open_clip_name",
            vision.open_clip_name,
            open_clip_models(),
            "open_clip.list_models()",
        )
    if found or vision.toy:  # (the toy tower's sizes are checked by its config)
        return found
    if vision.family == "open_clip" and cfg.model.connector != "avg_pool":
        return []  # open_clip's own configs build (EVA ViT-g on meta takes seconds)
    return _built_tower(cfg)


def _built_tower(cfg: VariantConfig) -> list[Finding]:
    import torch

    from lynx_core.model.vision import build_vision_tower

    vision, pool = cfg.model.vision, cfg.model.avg_pool
    field = {"open_clip": "model.vision.open_clip_name", "timm": "model.vision.timm_name"}
    try:
        with torch.device("meta"):
            grid = build_vision_tower(vision, weights=False).grid
    except Exception as err:  # noqa: BLE001 - each family refuses in its own way
        return [Finding(field.get(vision.family, "model.vision.hf_path"), str(err))]
    name = vision.open_clip_name or vision.timm_name or vision.hf_path.name
    misfit = pool.misfit(grid, f"{name} at {vision.image_size} px")
    if cfg.model.connector != "avg_pool" or misfit is None:
        return []
    return [Finding("model.avg_pool.tokens", misfit.removeprefix("model.avg_pool.tokens "))]


def _known(field: str, name: str, known: list[str], listing: str) -> list[Finding]:
    """`name` must be in `known` (what `listing`, e.g. 'timm.list_models()', gives); a timm
    name may carry a pretrained tag ('convnext_base.clip_laion2b')."""
    if name in known or name.split(".")[0] in known and listing.startswith("timm"):
        return []
    close = sorted(difflib.get_close_matches(name, known, n=5))
    hint = f"; close: {', '.join(close)}" if close else ""
    family = listing.split(".")[0]
    article = "an" if family[0] in "aeiou" else "a"
    return [Finding(field, f"{name!r} is not {article} {family} model ({listing}{hint})")]


def timm_models() -> list[str]:
    import timm

    return timm.list_models()


def open_clip_models() -> list[str]:
    """`open_clip.list_models()` without importing open_clip (and torch with it: seconds,
    for a refusal that should take less): the names of the model configs it ships."""
    spec = importlib.util.find_spec("open_clip")
    folder = Path(spec.origin).parent / "model_configs" if spec and spec.origin else None
    if folder is None or not folder.is_dir():  # another layout: ask open_clip itself
        import open_clip

        return open_clip.list_models()
    return sorted(p.stem for p in folder.glob("*.json"))
