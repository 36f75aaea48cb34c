"""The Lynx paper's published figures (`lynx_paper.yaml`, cited there), for tables and findings.

A sweep variant names its paper row with `paper_row:` (e.g. "w/ cross-attn"); tables put that
row's numbers beside ours, always labelled as the paper's. Only what the paper published is
here: a cell it did not report is absent, never zero. Not here: our own numbers.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from lynx_core.config import StrictModel

FILE = Path(__file__).with_name("lynx_paper.yaml")


class PaperRow(StrictModel):
    """One model or ablation row as the paper reports it."""

    table: Literal["main", "ablation"]
    image: dict[str, int] | None = Field(None, description="Open-VQA image: correct per class")
    image_overall: float | None = None
    video: dict[str, int] | None = Field(None, description="Open-VQA video: correct per class")
    video_overall: float | None = None
    owleval: float | None = Field(None, description="mean human rating")
    mme_perception: float | None = None
    mme_cognition: float | None = None
    mme: dict[str, float] | None = Field(None, description="MME score per subtask")


class PaperFigures(StrictModel):
    source: str
    image_totals: dict[str, int]  # questions per Open-VQA image class
    video_totals: dict[str, int]
    rows: dict[str, PaperRow]

    def row(self, label: str | None) -> PaperRow | None:
        return None if label is None else self.rows.get(label)


@functools.cache
def paper_figures() -> PaperFigures:
    return PaperFigures.model_validate(yaml.safe_load(FILE.read_text()))


BASELINE_ROW = "Lynx"  # the paper's own model, the row its ablations compare against
