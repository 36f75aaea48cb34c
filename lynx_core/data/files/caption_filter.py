"""Which of a caption file's pairs stage 1 keeps: text heuristics that work on real web
captions (`data.captions.files[].text_filter`) and LAION's CLIP image–caption similarity
(`clip_filter`), unlike the toy world's filler-word list (`data.captions.quality_filter`,
for the generated captions only).

The heuristics are the usual first pass of web-text cleaning (C4, LAION): too few words, one
word repeated over most of the caption ('sale sale sale sale'), or mostly digits and symbols
(file names, SKUs). Every caption (and, with the CLIP filter, every image) is read once when
the stage starts, with progress: at web scale the CLIP pass is the expensive one, and LAION
ran it offline. The kept pairs keep their order, so batches stay a pure function of (seed,
step).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from lynx_core.config import ClipFilterConfig, TextFilterConfig
from lynx_core.data.files.bad_samples import BadSample
from lynx_core.data.files.caption_files import CaptionFile
from lynx_core.data.files.computed import cache_file, computed_once
from lynx_core.digests import digest_files

WORD = re.compile(r"\w+", re.UNICODE)
FILTER_VERSION = 2  # bumped when a filter's code changes what it keeps or scores


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

    def where(self, index: int) -> str:
        return self.source.where(int(self.rows[index]))

    def caption(self, index: int) -> str:
        return self.source.caption(int(self.rows[index]))

    def image(self, index: int, at_least: int | None = None) -> np.ndarray:
        return self.source.image(int(self.rows[index]), at_least)


@torch.no_grad()
def clip_scores(source: CaptionFile, rows: np.ndarray, cfg: ClipFilterConfig) -> np.ndarray:
    """Cosine similarity of each pair's image and caption embeddings by the configured
    open_clip model (its own preprocessing and tokenizer), a batch at a time."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(
        cfg.model, pretrained=str(cfg.checkpoint)
    )
    tokenizer = open_clip.get_tokenizer(cfg.model)
    model.eval()
    scores = []
    starts = range(0, len(rows), cfg.batch_size)
    for start in tqdm(starts, desc="clip filter", leave=False, disable=None):
        chunk = [int(r) for r in rows[start : start + cfg.batch_size]]
        pairs = [_pair(source, r) for r in chunk]
        good = [pair for pair in pairs if pair is not None]
        score = np.full(len(chunk), -np.inf, dtype=np.float32)  # a bad sample: never kept
        if good:
            images = torch.stack([preprocess(Image.fromarray(image)) for image, _ in good])
            image = F.normalize(model.encode_image(images).float(), dim=-1)
            text = F.normalize(model.encode_text(tokenizer([c for _, c in good])).float(), dim=-1)
            score[[i for i, pair in enumerate(pairs) if pair is not None]] = (
                (image * text).sum(-1).numpy()
            )
        scores.append(score)
    return np.concatenate(scores) if scores else np.zeros(0)


def filtered(
    source: CaptionFile,
    text: TextFilterConfig | None,
    clip: ClipFilterConfig | None,
    name: str,
    cache: Path | None = None,
    version: str = "",
) -> CaptionFile:
    """`source` without the pairs its filters drop (itself when it has none): the text
    heuristics first (cheap: captions only), then CLIP on what they kept. With `cache` (the
    store's) and the source's `version`, the rows a text filter keeps and a CLIP model's
    scores are computed once: a new threshold is applied to the kept scores."""
    if text is None and clip is None:
        return source
    rows = np.arange(len(source))
    if text is not None:
        kept = cache_file(cache, "text_filter", version, text.model_dump(), FILTER_VERSION)
        rows = computed_once(kept, partial(_text_kept, source, text, name), mmap=True)
    if clip is not None:
        model = (clip.model, str(clip.checkpoint.resolve()), digest_files(clip.checkpoint))
        texts = text and text.model_dump()
        scored = cache_file(cache, "clip_scores", version, texts, model, FILTER_VERSION)
        scores = computed_once(scored, partial(clip_scores, source, rows, clip))
        rows = rows[scores >= clip.threshold]
    return Kept(source, rows)


def _pair(source: CaptionFile, index: int) -> tuple[np.ndarray, str] | None:
    """(image, caption) of a sample, None for a bad one (`BadSample`): a filter drops it."""
    try:
        return source.image(index), source.caption(index)
    except BadSample:
        return None


def _caption_passes(source: CaptionFile, index: int, cfg: TextFilterConfig) -> bool:
    try:
        return passes_text_filter(source.caption(index), cfg)
    except BadSample:  # empty, not text, an odd member name: dropped like any bad caption
        return False


def _text_kept(source: CaptionFile, cfg: TextFilterConfig, name: str) -> np.ndarray:
    captions = tqdm(range(len(source)), desc=f"filter {name}", leave=False, disable=None)
    return np.fromiter((i for i in captions if _caption_passes(source, i, cfg)), int)
