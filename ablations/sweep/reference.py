"""The Lynx paper's published figures (`lynx_paper.yaml`, cited there) and conclusions, for
tables and findings.

A sweep variant names its paper row with `paper_row:` (e.g. "w/ cross-attn"); tables put that
row's numbers beside ours, always labelled as the paper's. Only what the paper published is
here: a cell it did not report is absent, never zero. `CLAIMS` names the claims the findings
test (a variant may declare the ones it tests: `claims: [4a]`). Not here: our own numbers.
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


# the claims `ablations.results.findings` tests, by id: conclusion number, then a letter per claim
CLAIMS: dict[str, str] = {
    "1": "the model follows length instructions less than its own LLM",
    "2": "many more, noisy captions score lower than a few clean ones",
    "3a": "one template per task lowers zero-shot instruction following",
    "3b": "fewer training tasks lower zero-shot instruction following",
    "4a": "a smaller share of VQA training gives more hallucinated content",
    "4b": "a larger share of VQA training ignores 'answer in detail'",
    "5a": "gated cross-attention scores lower than a prefix",
    "5b": "gated cross-attention (LLM frozen) learns slower than a prefix",
    "6a": "the plain LLM (LLaMA) scores lower than the instruction-tuned one (Vicuna)",
    "6b": "lower input resolution scores lower",
}
