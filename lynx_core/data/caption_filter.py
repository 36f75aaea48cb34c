"""Which of a caption file's pairs stage 1 keeps: text heuristics that work on real web
captions (`data.captions.files[].text_filter`), unlike the toy world's filler-word list
(`data.captions.quality_filter`, for the generated captions only).

The heuristics are the usual first pass of web-text cleaning (C4, LAION): too few words, one
word repeated over most of the caption ('sale sale sale sale'), or mostly digits and symbols
(file names, SKUs). Every caption is read once when the stage starts (with progress); the
kept pairs keep their order, so batches stay a pure function of (seed, step).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from tqdm.auto import tqdm

from lynx_core.config import TextFilterConfig
from lynx_core.data.caption_files import CaptionFile

WORD = re.compile(r"\w+", re.UNICODE)


def passes_text_filter(caption: str, cfg: TextFilterConfig) -> bool:
    words = [w.lower() for w in WORD.findall(caption)]
    if len(words) < cfg.min_words:
        return False
    if Counter(words).most_common(1)[0][1] / len(words) > cfg.max_repeat_share:
        return False
    visible = [c for c in caption if not c.isspace()]
    return sum(c.isalpha() for c in visible) / len(visible) >= cfg.min_alpha_share


class Kept:
    """The pairs of `source` at `rows`, as a caption file of their own."""

    def __init__(self, source: CaptionFile, rows: np.ndarray):
        self.source, self.rows = source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def key(self, index: int) -> str:
        return self.source.key(int(self.rows[index]))

    def caption(self, index: int) -> str:
        return self.source.caption(int(self.rows[index]))

    def image(self, index: int, at_least: int | None = None) -> np.ndarray:
        return self.source.image(int(self.rows[index]), at_least)


def filtered(source: CaptionFile, cfg: TextFilterConfig | None, name: str) -> CaptionFile:
    """`source` without the pairs the filter drops (itself when there is no filter)."""
    if cfg is None:
        return source
    captions = tqdm(range(len(source)), desc=f"filter {name}", leave=False, disable=None)
    rows = np.fromiter((i for i in captions if passes_text_filter(source.caption(i), cfg)), int)
    return Kept(source, rows)
