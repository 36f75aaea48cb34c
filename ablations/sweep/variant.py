"""One run of the study: a named variant at one seed, its full config and what it declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lynx_core.config import VariantConfig, config_hash


@dataclass(frozen=True)
class Variant:
    """One run of the study: a named variant at one seed."""

    name: str  # unique in the sweep: '<group>-s<seed>' when the sweep has several seeds
    config: VariantConfig
    overrides: dict[str, Any]
    seed: int
    group_name: str | None = None  # the variant without its seed (None: `name`)
    paper_row: str | None = None  # the paper's row this variant reproduces, if any
    compare_to: str | None = None  # a variant it is also compared with (beside the baseline)
    claims: tuple[str, ...] = ()  # the findings' claims it declares it tests (`CLAIMS` ids)

    @property
    def key(self) -> str:
        return config_hash(self.config)

    @property
    def group(self) -> str:
        """The variant's name without its seed: the rows tables average over seeds."""
        return self.group_name or self.name
