"""Tiny variant configs for tests: the `tiny` scale preset plus dotted changes."""

from __future__ import annotations

from typing import Any

from lynx_core.config import VariantConfig, nest
from lynx_core.presets import PRESETS


def tiny_config(**dotted: Any) -> VariantConfig:
    """E.g. `tiny_config(**{"train.stage2.steps": 20})`."""
    return VariantConfig.model_validate(nest({**PRESETS["tiny"].overrides, **dotted}))
