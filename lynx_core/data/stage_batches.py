"""A training stage's batches, the whole data path: which pool each batch draws from (the
mixture), its examples, their media read as pixels or taken as the frozen trunk's cached
tokens, tokenised and padded; with several ranks, this rank's rows; with DataLoader workers,
batches of the user's files made ahead. Also the held-out validation batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from lynx_core.compute.ranks import SINGLE, Ranks
from lynx_core.config import VariantConfig
from lynx_core.data.batches import (
    MASKED_TOKENS,
    answer_tokens,
    collate,
    read_pixels,
    take_rows,
    to_pixels,
)
from lynx_core.data.dialogue import dialogue_template
from lynx_core.data.examples import IGNORE_INDEX, Example
from lynx_core.data.files.bad_samples import BadSample, BadSamples, TooManyBadSamples
from lynx_core.data.files.caption_files import CaptionFile, open_caption_file, source_version
from lynx_core.data.files.caption_filter import filtered
from lynx_core.data.files.formats import frame_picks
from lynx_core.data.mixture import Mixture, normalised
from lynx_core.data.prefetch import Prefetched
from lynx_core.data.stage_data import (
    CaptionFileExamples,
    FilePool,
    caption_examples,
    file_pools,
    sample_seed,
    stage2_pools,
    validation_examples,
)
from lynx_core.data.world.worldset import image_set, video_set

if TYPE_CHECKING:  # annotations only: the stages and the sample log sit above the data
    from lynx_core.stages import Stage
    from lynx_core.train.sample_log import SampleLog

PixelsFn = Callable[[list[int]], torch.Tensor]  # example media rows → pixels
MediaFn = Callable[[list[int]], dict[str, torch.Tensor]]  # rows → model inputs (pixels/patches)
# the frozen trunk's tokens of the media's rows (`lynx_core.model.features.FeatureCache`)
Features = Callable[[PixelsFn, np.ndarray], Callable[[list[int]], torch.Tensor]]


@dataclass(frozen=True)
class Draw:
    """A training batch's examples and how to get their media; `from_files` when those are
    decoded from the user's files (work for a DataLoader worker), not the generated world's
    arrays or the frozen trunk's cached tokens (the training process's)."""

    examples: Sequence[Example]
    media: MediaFn
    from_files: bool = False
    keys: Sequence[str] = ()  # each example's `<pool>:<sample>` (`lynx_core.train.sample_log`)
    pool: str = ""
    skipped: Sequence[Skipped] = ()  # bad samples the draw passed over (`_good_row`)


@dataclass(frozen=True)
class Draws:
    """A training stage's batches, `draws(number)`: its mixture of pools, how each pool's
    media become model inputs, and which pools are the user's files, with each sample's
    own key there (`file_keys`; another pool's sample is keyed by its row)."""

    mixture: Mixture
    media_of: Mapping[str, MediaFn]
    file_keys: Mapping[str, Callable[[int], str]]

    @property
    def reads_files(self) -> bool:
        """Whether some batches are decoded from files: the work of DataLoader workers."""
        return bool(set(self.mixture.weights) & set(self.file_keys))

    def __call__(self, number: int) -> Draw:
        name, rows = self.mixture.rows(number)
        key, pool, skipped = self.file_keys.get(name, str), self.mixture.pools[name], []
        if name in self.file_keys:  # a bad sample is passed over for the next good one
            good = [_good_row(pool, i, name, skipped) for i in rows]
            rows, examples = [r for r, _ in good], [e for _, e in good]
        else:
            examples = [pool[i] for i in rows]
        keys = [f"{name}:{key(i)}" for i in rows]
        return Draw(examples, self.media_of[name], name in self.file_keys, keys, name, skipped)


Skipped = tuple[str, str, str, str]  # (source, reason, where, detail)
MAX_IN_A_ROW = 1000  # bad samples passed over in a row before a source counts as broken
SKIPPED, KEYS = "skipped_samples", "sample_keys"  # carried with a batch to the trainer


def _good_row(
    pool: Sequence[Example], row: int, name: str, skipped: list[Skipped]
) -> tuple[int, Example]:
    """`row`, or the first row after it (in the file's order, wrapping) whose caption reads,
    with its example (read once): a batch stays a pure function of its number, the same on
    every rank and every resume."""
    for step in range(MAX_IN_A_ROW):
        candidate = (row + step) % len(pool)
        try:
            return candidate, pool[candidate]
        except BadSample as bad:
            skipped.append((name, bad.reason, bad.where, bad.detail))
    raise TooManyBadSamples(f"{name}: {MAX_IN_A_ROW} samples in a row are bad, e.g. {skipped[:3]}")


def _stage1_batches(
    cfg: VariantConfig,
    world: Path,
    features: Features | None,
    report: dict[str, float],
    cache: Path | None = None,
) -> Draws:
    """Stage 1: image–caption pairs, the generated world's (clean or noisy) and the user's
    files, mixed by ratio; each batch is one source's. `report` gets the pairs sampled from
    (`stage1/pairs`, after the filters) and the share of each file's pairs its filters
    kept; `cache` keeps what is computed from a file once (its
    shard indexes, what its filters keep)."""
    captions = cfg.data.captions
    pools: dict[str, Sequence[Example]] = {}
    media_of: dict[str, MediaFn] = {}
    key_of: dict[str, Callable[[int], str]] = {}  # each file's own sample keys
    ratios: dict[str, float] = {}
    if captions.world_ratio > 0:
        drawn = sample_seed(cfg.data, cfg.train.seed)
        images = image_set(world, drawn, captions.images, "captions")
        pools["world"] = caption_examples(images, cfg.data, drawn)
        if not pools["world"]:
            raise ValueError("data.captions: the quality filter dropped every caption")
        media_of["world"] = _world_media(images.images, cfg, features)
        ratios["world"] = captions.world_ratio
    size = cfg.model.vision.image_size
    for file in captions.files:
        name = file.source_name
        every = open_caption_file(file, cache)
        version = source_version(file) if cache is not None else ""
        source = filtered(every, file.text_filter, file.clip_filter, name, cache, version)
        if len(every) == 0 or len(source) == 0:
            why = "holds no image–caption pair" if len(every) == 0 else "its filters kept none"
            raise ValueError(f"data.captions.files: {file.path}: {why}")
        if file.text_filter is not None or file.clip_filter is not None:
            report[f"stage1/kept/{name}"] = len(source) / len(every)
        pools[name] = CaptionFileExamples(source, name)
        media_of[name] = partial(_caption_file_media, source, name, size)
        key_of[name] = source.key
        ratios[name] = file.ratio
    weights = normalised(ratios, list(pools))
    report["stage1/pairs"] = float(sum(len(pools[name]) for name in weights))
    mixture = Mixture(pools, weights, cfg.train.stage1.batch_size, cfg.train.seed)
    return Draws(mixture, media_of, key_of)


def _stage2_batches(
    cfg: VariantConfig,
    world: Path,
    features: Features | None,
    report: dict[str, float],
    cache: Path | None = None,
) -> Draws:
    """Stage 2: the task mixture (world tasks and the user's training files); each batch is
    one pool's images, videos or text. `cache` keeps each training file's index once."""
    seed = cfg.train.seed_of("stage2")
    drawn = sample_seed(cfg.data, seed)  # each seed trains on its own sample
    images = image_set(world, drawn, cfg.data.train_images, "tasks")
    videos = video_set(world, drawn, cfg.data.train_videos, "tasks")
    pools = stage2_pools(images, videos, cfg.data, drawn)
    kinds = {examples[0].kind for examples in pools.values()}
    arrays = {"image": images.images, "video": videos.videos}
    world_media: dict[str, MediaFn] = {"text": _no_media}  # one cache per kind, for all pools
    world_media.update({k: _world_media(arrays[k], cfg, features) for k in kinds - {"text"}})
    media_of = {name: world_media[examples[0].kind] for name, examples in pools.items()}
    ratios = dict(cfg.data.mixture)
    size, frames = cfg.model.vision.image_size, cfg.model.vision.max_frames
    files = file_pools(cfg.data, cache, drawn)
    for name, (ratio, pool) in files.items():
        pools[name], ratios[name] = pool, ratio
        media_of[name] = (
            _no_media
            if pool.kind == "text"
            else partial(_as, "pixels", partial(_file_pixels, pool, size, frames))
        )
    mixture = Mixture(pools, normalised(ratios, list(pools)), cfg.train.stage2.batch_size, seed)
    return Draws(mixture, media_of, {name: pool.key for name, (_, pool) in files.items()})


def _world_media(media: np.ndarray, cfg: VariantConfig, features: Features | None) -> MediaFn:
    """The generated world's images or clips as model inputs: their pixels, or, with a
    feature cache, the frozen trunk's tokens of every item computed once."""
    vision = cfg.model.vision
    pixels = partial(_world_pixels, media, vision.image_size, vision.max_frames)
    if features is None:
        return partial(_as, "pixels", pixels)
    return partial(_as, "patches", features(pixels, media))


def _as(key: str, source: Callable[[list[int]], torch.Tensor], rows: list[int]) -> dict:
    return {key: source(rows)}


def _no_media(rows: list[int]) -> dict[str, torch.Tensor]:
    return {}  # text-only instructions


def _world_pixels(media: np.ndarray, size: int, frames: int, rows: list[int]) -> torch.Tensor:
    """Rows of (N, H, W, 3) images or (N, T, H, W, 3) clips; a clip's frames are sampled as
    a video file's are (`frame_picks`), so training and evaluation see the same frames."""
    chosen = media[rows]
    if chosen.ndim == 5:
        chosen = chosen[:, frame_picks(chosen.shape[1], frames)]
    return to_pixels(chosen, size)


def _file_pixels(pool: FilePool, size: int, frames: int, rows: list[int]) -> torch.Tensor:
    return read_pixels([pool.media_path(r) for r in rows], pool.kind, size, frames)


def _caption_file_media(source: CaptionFile, name: str, size: int, rows: list[int]) -> dict:
    """The pixels of a caption file's rows; an image that does not decode is black and its
    row listed under `SKIPPED` with its position (`inputs` masks its caption out of the loss:
    its caption was read, so a batch keeps its rows on every rank)."""
    pixels, bad = [], []
    for position, row in enumerate(rows):
        try:
            pixels.append(to_pixels(source.image(row, at_least=size)[None], size)[0])
        except BadSample as sample:
            pixels.append(torch.zeros(3, size, size))
            bad.append((position, (name, sample.reason, sample.where, sample.detail)))
    return {"pixels": torch.stack(pixels), SKIPPED: bad}


# the training stages' batches (another stage has none: a KeyError, not stage 2's batches)
BUILDERS: dict[Stage, Callable[..., Draws]] = {"stage1": _stage1_batches, "stage2": _stage2_batches}


def validation_batches(
    stage: Stage, cfg: VariantConfig, world: Path, tokenizer, features: Features | None = None
) -> list[dict[str, torch.Tensor]]:
    """The model inputs of a stage's held-out validation examples (`stage_data`), batched by
    kind of media at the stage's batch size, every rank all of them."""
    data, batch_size = cfg.data, getattr(cfg.train, stage).batch_size
    images = image_set(world, data.seed, data.validation_examples, "validation")
    videos = video_set(world, data.seed, data.validation_examples // 4, "validation")
    examples = validation_examples(stage, images, videos, data)
    arrays = {"image": images.images, "video": videos.videos}
    media = {k: _world_media(arrays[k], cfg, features) for k in arrays}
    template = dialogue_template(cfg.model.llm.prompt_template, tokenizer)
    batches = []
    for kind in ("image", "video", "text"):
        mine = [e for e in examples if e.kind == kind]
        for start in range(0, len(mine), batch_size):
            chunk = mine[start : start + batch_size]
            inputs = media[kind]([e.media for e in chunk]) if kind in media else {}
            batches.append({**collate(chunk, tokenizer, template), **inputs})
    return batches


def stage_batches(
    stage: Stage,
    cfg: VariantConfig,
    world: Path,
    tokenizer,
    features: Features | None = None,
    ranks: Ranks = SINGLE,
    report: dict[str, float] | None = None,
    samples: SampleLog | None = None,
    cache: Path | None = None,
    bad: BadSamples | None = None,
) -> Callable[[int], dict[str, torch.Tensor]]:
    """`batch(number)`: the model inputs of a training stage's batch `number` (the whole data
    path: sampling, reading media, pixel preprocessing or cached trunk tokens, tokenisation,
    padding); with several ranks, this rank's rows of it, and only their media are read.
    With `train.data_workers`, batches of the user's files are made ahead in DataLoader
    worker processes (`lynx_core.data.prefetch`). `samples` gets the keys of this rank's rows
    of every batch, to log once it is trained (`SampleLog.pending`); `bad` counts the bad
    samples of the user's files passed over or masked (`lynx_core.data.files.bad_samples`)
    and stops the stage past the sweep's threshold; `cache` (the store's) keeps what is
    computed from a data file once (`lynx_core.data.files.computed`)."""
    draws = BUILDERS[stage](cfg, world, features, {} if report is None else report, cache)
    template = dialogue_template(cfg.model.llm.prompt_template, tokenizer)

    def mine(rows: Sequence) -> Sequence:
        return rows if ranks.world == 1 else rows[ranks.rows(len(rows))]

    def inputs(draw: Draw) -> dict:
        examples = draw.examples
        text = collate(examples, tokenizer, template)  # padded as the whole batch, on every rank
        own = text if ranks.world == 1 else take_rows(text, ranks)
        media = draw.media([e.media for e in mine(examples)])
        failed = dict(media.pop(SKIPPED, []))  # position → its undecodable image
        labels = own["labels"]
        if ranks.world > 1:  # the global count `take_rows` made holds them: `loss_weight`
            masked = list(failed)
            own[MASKED_TOKENS] = torch.tensor(answer_tokens(labels[masked]) if masked else 0)
        for position in failed:  # its caption was read: no loss on it, the rows stay
            labels[position] = IGNORE_INDEX
        keys = [k for i, k in enumerate(mine(draw.keys)) if i not in failed]
        passed_over = list(draw.skipped) if ranks.is_main else []  # every rank drew them
        read = len(mine(examples)) + len(passed_over)
        counted = (draw.pool, read, [*failed.values(), *passed_over]) if draw.from_files else None
        return {**own, **media, SKIPPED: counted, KEYS: keys}

    def taken(number: int, made: dict) -> dict[str, torch.Tensor]:
        """The model's inputs: what the batch carries for the trainer taken off it."""
        counted, keys = made.pop(SKIPPED), made.pop(KEYS)
        if counted is not None and bad is not None:
            pool, read, skipped = counted
            bad.read(pool, read)
            bad.add(skipped)
            if ranks.world == 1:  # several ranks check their counts merged (`pipeline`)
                bad.check()
        if samples is not None:
            samples.pending(number, keys)
        return made

    def batch(number: int) -> dict[str, torch.Tensor]:
        return taken(number, inputs(draws(number)))

    if cfg.train.data_workers == 0 or not draws.reads_files:
        return batch

    def from_files(number: int) -> dict | None:
        draw = draws(number)
        return inputs(draw) if draw.from_files else None

    ahead = Prefetched(from_files, cfg.train.data_workers)

    def prefetched(number: int) -> dict[str, torch.Tensor]:
        made = ahead(number)
        return batch(number) if made is None else taken(number, made)

    return prefetched
