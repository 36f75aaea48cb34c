"""Tiny variant configs for tests: the `tiny` scale preset plus dotted changes; a stub of an
LLM folder for tests that stop at validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lynx_core.config import VariantConfig, nest
from lynx_core.presets import PRESETS


def tiny_config(**dotted: Any) -> VariantConfig:
    """E.g. `tiny_config(**{"train.stage2.steps": 20})`."""
    return VariantConfig.model_validate(nest({**PRESETS["tiny"].overrides, **dotted}))


def trained_bases(root: Path, **dotted: Any) -> tuple[dict, Path]:
    """The bases of `tiny_config(**dotted)` trained into `root`: (the stage folders, the
    cache), for tests of stage 1's data that train them once per module."""
    import torch

    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES

    torch.set_num_threads(1)
    folders = {stage: root / stage for stage in STAGES}
    run_stage("bases", tiny_config(**dotted), folders, root / "cache")
    return folders, root / "cache"


def through_stage1(root: Path, **dotted: Any) -> tuple[dict, Path]:
    """Bases and stage 1 of `tiny_config(**dotted)` trained into `root`: (the stage folders,
    the cache), for tests that train stage 2 on them in several ways."""
    import torch

    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES

    torch.set_num_threads(1)
    folders = {stage: root / stage for stage in STAGES}
    for stage in ("bases", "stage1"):
        run_stage(stage, tiny_config(**dotted), folders, root / "cache")
    return folders, root / "cache"


def llm_folder_stub(folder: Path, layers: int = 4, hidden: int = 128, heads: int = 4) -> Path:
    """A folder that passes the sweep's LLM-folder check (config.json with its sizes, a
    weights file, a tokenizer file) without being a loadable model: for tests that stop at
    validation."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
    }
    (folder / "config.json").write_text(json.dumps(sizes))
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    return folder
