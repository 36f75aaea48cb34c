"""The study's stages as functions: bases → stage 1 (align on captions) → stage 2 (instruct) → eval.

`run_stage(stage, cfg, folders, cache)` reads the outputs of the stage's ancestors from their
folders and writes its own into `folders[stage]`: the toy LLM (bases), the trained weights
(`trainable.safetensors`, stages 1 and 2) or `predictions.jsonl` (eval). Training stages keep a
resumable checkpoint in their folder, so calling a stage again after a crash continues it.
The orchestration layer decides which folders are shared between variants; `run_variant` runs
one variant's whole chain in one process. No Ray, no MLflow.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from lynx_core.atomic import write_with
from lynx_core.compute.ranks import SINGLE, Ranks, mean_over_ranks
from lynx_core.compute.runtime import Runtime, resolve_runtime
from lynx_core.config import DeepSpeedConfig, StageConfig, VariantConfig
from lynx_core.data.batches import collate, read_pixels, to_pixels
from lynx_core.data.benchmarks import configured
from lynx_core.data.caption_files import CaptionFile, open_caption_file, source_version
from lynx_core.data.caption_filter import filtered
from lynx_core.data.dialogue import TEMPLATES
from lynx_core.data.examples import Example
from lynx_core.data.formats import frame_picks
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
from lynx_core.data.worldset import (
    eval_suite,
    image_set,
    suite_benchmarks,
    validation_suite,
    video_set,
)
from lynx_core.evaluate.suite import BaseLLM, evaluate_suite
from lynx_core.model.features import FeatureCache, cached_trunk, token_files
from lynx_core.model.lynx import LynxModel, build_lynx
from lynx_core.stages import PARENT, STAGES, Stage
from lynx_core.train.bases import load_bases, load_tower, prepare_bases
from lynx_core.train.checkpoint import load_checkpoint
from lynx_core.train.distributed import DataParallelOptimization, loss_weight, scaled, take_rows
from lynx_core.train.loop import LogFn, Record, best_path, train_stage
from lynx_core.train.optimization import Optimization, TorchOptimization
from lynx_core.train.sample_log import SampleLog, log_path

log = logging.getLogger(__name__)
WEIGHTS = "trainable.safetensors"
BEST_WEIGHTS = "best.safetensors"  # the checkpoint with the lowest logged training loss
CHECKPOINT = "train.ckpt"


@dataclass
class StageOutput:
    """What a stage reports: final metrics, its logged training curve (empty for eval), and
    facts that are not numbers (e.g. which judge scored)."""

    metrics: dict[str, float] = field(default_factory=dict)
    history: list[Record] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def build_model(cfg: VariantConfig, bases: Path) -> tuple[LynxModel, object]:
    """The variant's model around its frozen bases (LLM, and the CLIP-pretrained toy tower)."""
    tokenizer, llm = load_bases(cfg, bases)
    torch.manual_seed(cfg.train.seed)  # same new modules for every variant of a seed
    model = build_lynx(cfg.model, tokenizer, llm)
    load_tower(model.vision, bases)
    return model, tokenizer


PixelsFn = Callable[[list[int]], torch.Tensor]  # example media rows → pixels
MediaFn = Callable[[list[int]], dict[str, torch.Tensor]]  # rows → model inputs (pixels/patches)
Features = Callable[[PixelsFn, np.ndarray], FeatureCache]  # trunk tokens of the media's rows


@dataclass(frozen=True)
class Draw:
    """A training batch's examples and how to get their media; `from_files` when those are
    decoded from the user's files (work for a DataLoader worker), not the generated world's
    arrays or the frozen trunk's cached tokens (the training process's)."""

    examples: Sequence[Example]
    media: MediaFn
    from_files: bool = False
    keys: Sequence[str] = ()  # each example's `<pool>:<sample>` (`lynx_core.train.sample_log`)


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
        key = self.file_keys.get(name, str)
        examples = [self.mixture.pools[name][i] for i in rows]
        keys = [f"{name}:{key(i)}" for i in rows]
        return Draw(examples, self.media_of[name], name in self.file_keys, keys)


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
        media_of[name] = partial(_as, "pixels", partial(_caption_file_pixels, source, size))
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
    drawn = sample_seed(cfg.data, cfg.train.seed)  # each seed trains on its own sample
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
    files = file_pools(cfg.data, cache)
    for name, (ratio, pool) in files.items():
        pools[name], ratios[name] = pool, ratio
        media_of[name] = (
            _no_media
            if pool.kind == "text"
            else partial(_as, "pixels", partial(_file_pixels, pool, size, frames))
        )
    mixture = Mixture(
        pools, normalised(ratios, list(pools)), cfg.train.stage2.batch_size, cfg.train.seed
    )
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


def _caption_file_pixels(source: CaptionFile, size: int, rows: list[int]) -> torch.Tensor:
    return torch.stack([to_pixels(source.image(r, at_least=size)[None], size)[0] for r in rows])


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
    template = TEMPLATES[cfg.model.llm.prompt_template]
    batches = []
    for kind in ("image", "video", "text"):
        mine = [e for e in examples if e.kind == kind]
        for start in range(0, len(mine), batch_size):
            chunk = mine[start : start + batch_size]
            inputs = media[kind]([e.media for e in chunk]) if kind in media else {}
            batches.append({**collate(chunk, tokenizer, template), **inputs})
    return batches


def feature_cache(
    model: LynxModel, cfg: VariantConfig, runtime: Runtime, cache: Path | None = None
) -> Features | None:
    """How a stage caches the frozen trunk's tokens of the world's media, if it does; fp32
    tokens are also kept in the store's `cache` for the other stages and variants."""
    encode = cached_trunk(model.vision, cfg.train.feature_cache, runtime.device, runtime.autocast)
    if encode is None:
        return None
    fp32 = runtime.autocast_dtype is None
    files = token_files(model.vision, cache, "trunk_tokens", runtime.name, fp32)
    vision = cfg.model.vision

    def features(pixels_of: PixelsFn, media: np.ndarray) -> FeatureCache:
        file = None
        if files is not None:  # named by the media's bytes: each seed samples its own world
            content = hashlib.sha256(np.ascontiguousarray(media).data).hexdigest()[:16]
            file = files(content, vision.image_size, vision.max_frames)
        return FeatureCache(encode, pixels_of, len(media), file)

    return features


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
) -> Callable[[int], dict[str, torch.Tensor]]:
    """`batch(number)`: the model inputs of a training stage's batch `number` (the whole data
    path: sampling, reading media, pixel preprocessing or cached trunk tokens, tokenisation,
    padding); with several ranks, this rank's rows of it, and only their media are read.
    With `train.data_workers`, batches of the user's files are made ahead in DataLoader
    worker processes (`lynx_core.data.prefetch`). `samples` logs the keys of this rank's rows
    of every batch asked for; `cache` (the store's) keeps what is computed from a data file
    once (`lynx_core.data.computed`)."""
    build = _stage1_batches if stage == "stage1" else _stage2_batches
    draws = build(cfg, world, features, {} if report is None else report, cache)
    template = TEMPLATES[cfg.model.llm.prompt_template]

    def mine(rows: Sequence) -> Sequence:
        return rows if ranks.world == 1 else rows[ranks.rows(len(rows))]

    def inputs(draw: Draw) -> dict[str, torch.Tensor]:
        examples = draw.examples
        text = collate(examples, tokenizer, template)  # padded as the whole batch, on every rank
        own = text if ranks.world == 1 else take_rows(text, ranks)
        return {**own, **draw.media([e.media for e in mine(examples)])}

    def logged(number: int, draw: Draw) -> Draw:
        if samples is not None:
            samples.record(number, mine(draw.keys))
        return draw

    def batch(number: int) -> dict[str, torch.Tensor]:
        return inputs(logged(number, draws(number)))

    if cfg.train.data_workers == 0 or not draws.reads_files:
        return batch

    def from_files(number: int) -> dict[str, torch.Tensor] | None:
        draw = draws(number)
        return inputs(draw) if draw.from_files else None

    ahead = Prefetched(from_files, cfg.train.data_workers)

    def prefetched(number: int) -> dict[str, torch.Tensor]:
        made = ahead(number)
        if made is None:
            return batch(number)
        if samples is not None:  # the draw again, for its keys (no media read)
            logged(number, draws(number))
        return made

    return prefetched


def make_optimization(
    model: LynxModel,
    stage_cfg: StageConfig,
    cfg: VariantConfig,
    runtime: Runtime,
    ranks: Ranks = SINGLE,
) -> Optimization:
    params = model.trainable_parameters()
    if cfg.train.deepspeed is not None:
        from lynx_core.train.zero import DeepSpeedOptimization  # imports DeepSpeed if asked

        return DeepSpeedOptimization(model, params, stage_cfg, cfg.train.deepspeed, runtime, ranks)
    if ranks.world > 1:
        return DataParallelOptimization(params, stage_cfg, model, ranks)
    return TorchOptimization(params, stage_cfg, model)


def _train(
    stage: Stage,
    cfg: VariantConfig,
    folders: dict[Stage, Path],
    cache: Path,
    on_log: LogFn | None,
    ranks: Ranks = SINGLE,
) -> StageOutput:
    runtime = rank_runtime(cfg, ranks)
    model, tokenizer = build_model(cfg, folders["bases"])
    parent = PARENT[stage]
    if parent != "bases":
        model.load_trainable(folders[parent] / WEIGHTS)
    model.to(runtime.device)
    features = feature_cache(model, cfg, runtime, cache)
    data_report: dict[str, float] = {}  # e.g. the share of a caption file its filter kept
    logged = SampleLog(log_path(folders[stage], ranks.rank)) if cfg.train.sample_log else None
    batches = stage_batches(
        stage, cfg, cache / "world", tokenizer, features, ranks, data_report, logged, cache
    )
    stage_cfg: StageConfig = getattr(cfg.train, stage)
    model.train()
    if cfg.train.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    optimization = make_optimization(model, stage_cfg, cfg, runtime, ranks)

    def step_loss(number: int) -> torch.Tensor:
        batch = batches(number)
        weight = loss_weight(batch, ranks)
        with runtime.autocast():
            return scaled(optimization.forward(**runtime.to_device(batch)).loss, weight)

    validate = None
    if stage_cfg.validate_every:
        held_out = validation_batches(stage, cfg, cache / "world", tokenizer, features)

        @torch.no_grad()
        def validate() -> float:
            model.eval()
            with runtime.autocast():
                losses = [optimization.forward(**runtime.to_device(b)).loss for b in held_out]
            model.train()
            return float(torch.stack(losses).mean())

    history = train_stage(
        step_loss,
        optimization,
        stage_cfg,
        stage=stage,
        log_every=cfg.train.log_every,
        on_log=on_log,
        checkpoint=folders[stage] / CHECKPOINT,
        checkpoint_every=cfg.train.checkpoint_every,
        mean_over_ranks=partial(mean_over_ranks, ranks=ranks),
        validate=validate,
    )
    metrics = {f"{stage}/final_loss": float(history[-1]["loss"])} if history else {}
    metrics.update(learning_speed(stage, history))
    metrics.update(data_report)
    if stage == "stage1":
        metrics.update({f"params/{k}": v for k, v in model.parameter_counts().items()})
    tags = {f"lynx_{stage}_runtime": _describe(runtime, cfg.train.deepspeed, ranks)}
    if not ranks.is_main:  # rank 0 writes the stage's outputs; the others only trained
        return StageOutput(metrics, history, tags)
    model.cpu().save_trainable(folders[stage] / WEIGHTS)
    metrics.update(_keep_best(model, folders[stage], stage))
    return StageOutput(metrics, history, tags)


def learning_speed(stage: Stage, history: Sequence[Record]) -> dict[str, float]:
    """How fast a stage learned, from its held-out loss curve: `<stage>/val_loss_area`, the
    area under the curve per step from its first measurement to its last (trapezoids; the
    mean validation loss over the run: lower learned faster) and `<stage>/final_val_loss`."""
    points = [(int(r["step"]), float(r["val_loss"])) for r in history if "val_loss" in r]
    if not points:
        return {}
    steps, losses = zip(*points, strict=True)
    span = steps[-1] - steps[0]
    area = float(np.trapezoid(losses, steps)) / span if span else losses[-1]
    return {f"{stage}/val_loss_area": area, f"{stage}/final_val_loss": losses[-1]}


def _keep_best(model: LynxModel, folder: Path, stage: Stage) -> dict[str, float]:
    """The best checkpoint's weights as `best.safetensors`, named like the final ones."""
    best = load_checkpoint(best_path(folder / CHECKPOINT))
    if best is None:
        return {}
    names = [n for n, _ in model.trainable_named_parameters()]  # the order `params` has
    weights = dict(zip(names, best["params"], strict=True))
    write_with(folder / BEST_WEIGHTS, lambda tmp: save_file(weights, str(tmp)))
    return {f"{stage}/best_step": float(best["step"]), f"{stage}/best_loss": best["loss"]}


def _describe(runtime: Runtime, deepspeed: DeepSpeedConfig | None, ranks: Ranks) -> str:
    """E.g. 'cuda bf16 zero2 x8', recorded beside the stage's metrics."""
    zero = "" if deepspeed is None else f" zero{deepspeed.zero_stage}"
    workers = "" if ranks.world == 1 else f" x{ranks.world}"
    return f"{runtime.name}{zero}{workers}"


def rank_runtime(cfg: VariantConfig, ranks: Ranks) -> Runtime:
    """The stage's runtime, on the rank's own device (its GPU, or the CPU) when it has ranks."""
    runtime = resolve_runtime(cfg.train)
    return runtime if ranks.world == 1 else replace(runtime, device=ranks.device)


def _evaluate(
    cfg: VariantConfig, folders: dict[Stage, Path], cache: Path, ranks: Ranks = SINGLE
) -> StageOutput:
    runtime = rank_runtime(cfg, ranks)
    model, tokenizer = build_model(cfg, folders["bases"])
    model.load_trainable(folders["stage2"] / WEIGHTS)
    model.to(runtime.device)
    base_llm = BaseLLM(partial(_base_llm, cfg, folders), str(folders["bases"].resolve()))
    benchmarks = evaluation_benchmarks(cfg, cache / "world")
    metrics, judge = evaluate_suite(
        model, tokenizer, cfg, benchmarks, cache, folders["eval"], runtime, base_llm, ranks
    )
    workers = "" if ranks.world == 1 else f" x{ranks.world}"
    return StageOutput(
        metrics, tags={"lynx_judge": judge, "lynx_eval_runtime": runtime.name + workers}
    )


def evaluation_benchmarks(cfg: VariantConfig, world: Path):
    """What the eval stage reads: the test benchmarks (the suite, or the generated one, with
    the released files a sweep names laid over it), or the validation split's suite."""
    if cfg.eval.split == "validation":
        return suite_benchmarks(cfg.eval.validation_suite or validation_suite(world, cfg.data))
    return configured(cfg.eval, suite_benchmarks(cfg.eval.suite or eval_suite(world, cfg.data)))


def _base_llm(cfg: VariantConfig, folders: dict[Stage, Path]):
    """The variant's frozen LLM alone, without adapters, LoRA or visual inputs."""
    return load_bases(cfg, folders["bases"])[1]


def run_stage(
    stage: Stage,
    cfg: VariantConfig,
    folders: dict[Stage, Path],
    cache: Path,
    on_log: LogFn | None = None,
    ranks: Ranks = SINGLE,
) -> StageOutput:
    """Run one stage of `cfg` into `folders[stage]`, given its ancestors' folders.

    `cache` holds what is shared across stage runs and keyed by content: the generated
    world's datasets and the GPT judge's verdicts. A training stage can run as one of
    several data-parallel `ranks` of a process group its launcher set up
    (`lynx_core.train.distributed`), and eval can share its questions among them; the bases
    run in one process.
    """
    if ranks.world > 1 and stage == "bases":
        raise ValueError(f"{stage} runs in one process, not on {ranks.world} workers")
    started = time.perf_counter()
    folders[stage].mkdir(parents=True, exist_ok=True)
    if stage == "bases":
        history = prepare_bases(cfg, folders["bases"], cache / "world", on_log, cache / "bases")
        output = StageOutput(history=history)
    elif stage == "eval":
        output = _evaluate(cfg, folders, cache, ranks)
    else:
        output = _train(stage, cfg, folders, cache, on_log, ranks)
    output.metrics[f"{stage}/wall_time_s"] = time.perf_counter() - started
    return output


def run_variant(cfg: VariantConfig, workdir: Path, on_log: LogFn | None = None) -> dict[str, float]:
    """One variant's whole chain in this process, into `workdir/<stage>/` (cache in
    `workdir/cache`); all final metrics."""
    folders = {stage: workdir / stage for stage in STAGES}
    metrics: dict[str, float] = {}
    for stage in STAGES:
        metrics.update(run_stage(stage, cfg, folders, workdir / "cache", on_log).metrics)
    return metrics
