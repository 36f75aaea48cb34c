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
from collections.abc import Callable, Sequence
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
from lynx_core.data.files.bad_samples import BadSamples, over_ranks
from lynx_core.data.files.benchmarks import configured
from lynx_core.data.stage_batches import Features, PixelsFn, stage_batches, validation_batches
from lynx_core.data.world.worldset import (
    eval_suite,
    suite_benchmarks,
    validation_suite,
)
from lynx_core.evaluate.suite import BaseLLM, evaluate_suite
from lynx_core.model.features import FeatureCache, cached_trunk, token_files
from lynx_core.model.lynx import LynxModel, build_lynx
from lynx_core.model.vision import lr_scale_of
from lynx_core.stages import PARENT, STAGES, Stage
from lynx_core.train.bases import load_bases, load_tower, prepare_bases
from lynx_core.train.checkpoint import load_checkpoint
from lynx_core.train.distributed import DataParallelOptimization, loss_weight, scaled
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


def make_optimization(
    model: LynxModel,
    stage_cfg: StageConfig,
    cfg: VariantConfig,
    runtime: Runtime,
    ranks: Ranks = SINGLE,
) -> Optimization:
    params = model.trainable_parameters()
    trunk = [p for p in model.vision.visual.parameters() if p.requires_grad]
    if any(lr_scale_of(p) != cfg.model.vision.lr_scale for p in trunk):
        raise RuntimeError(  # a copy of the model (deepcopy) drops parameters' attributes
            "the trained tower's parameters lost their model.vision.lr_scale; build the model "
            "with build_model, not a copy"
        )
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
    if stage == "stage2" and cfg.train.stage2_seed is not None:  # its own dropout draws
        torch.manual_seed(cfg.train.stage2_seed)
    model.to(runtime.device)
    features = feature_cache(model, cfg, runtime, cache)
    data_report: dict[str, float] = {}  # e.g. the share of a caption file its filter kept
    logged = SampleLog(log_path(folders[stage], ranks.rank)) if cfg.train.sample_log else None
    bad = BadSamples(cfg.train.max_bad_share)  # of the user's caption files
    batches = stage_batches(
        stage, cfg, cache / "world", tokenizer, features, ranks, data_report, logged, cache, bad
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
        after_step=partial(_after_step, logged, bad, ranks, stage_cfg, cfg.train.log_every),
    )
    bad = over_ranks(bad, ranks)  # checked at the last step (`_after_step`); now reported
    metrics = {f"{stage}/final_loss": float(history[-1]["loss"])} if history else {}
    metrics.update(learning_speed(stage, history))
    metrics.update(data_report)
    metrics.update(bad.metrics(stage))
    if stage == "stage1":
        metrics.update({f"params/{k}": v for k, v in model.parameter_counts().items()})
    tags = {f"lynx_{stage}_runtime": _describe(runtime, cfg.train.deepspeed, ranks)}
    if bad.counts:
        tags[f"lynx_{stage}_skipped"] = bad.examples()[:5000]
    if not ranks.is_main:  # rank 0 writes the stage's outputs; the others only trained
        return StageOutput(metrics, history, tags)
    model.cpu().save_trainable(folders[stage] / WEIGHTS)
    metrics.update(_keep_best(model, folders[stage], stage))
    return StageOutput(metrics, history, tags)


def _after_step(
    logged: SampleLog | None,
    bad: BadSamples,
    ranks: Ranks,
    stage_cfg: StageConfig,
    every: int,
    micro_batches: int,
) -> None:
    """Once an optimizer step took the micro-batches below `micro_batches`: their sample-log
    lines; with several ranks, every `every` steps, the bad samples counted over all ranks
    against the threshold (each rank alone sees a lopsided share; all decide alike); at the
    last step, the final check, before the last checkpoint is saved (a retry resumes from an
    earlier one and reads those samples again, rather than finding nothing left to count)."""
    if logged is not None:
        logged.trained(micro_batches)
    step = micro_batches // stage_cfg.grad_accumulation
    last = step == stage_cfg.steps
    if ranks.world > 1 and (step % every == 0 or last):
        over_ranks(bad, ranks).check(final=last)
    elif last:
        bad.check(final=True)


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
    output = RUNNERS[stage](stage, cfg, folders, cache, on_log, ranks)
    output.metrics[f"{stage}/wall_time_s"] = time.perf_counter() - started
    return output


def _prepare_bases(
    stage: Stage, cfg: VariantConfig, folders: dict[Stage, Path], cache: Path, on_log, ranks
) -> StageOutput:
    history = prepare_bases(cfg, folders["bases"], cache / "world", on_log, cache / "bases")
    return StageOutput(history=history)


def _run_eval(
    stage: Stage, cfg: VariantConfig, folders: dict[Stage, Path], cache: Path, on_log, ranks
) -> StageOutput:
    return _evaluate(cfg, folders, cache, ranks)


# stage → its runner, each called (stage, cfg, folders, cache, on_log, ranks)
RUNNERS: dict[Stage, Callable[..., StageOutput]] = {
    "bases": _prepare_bases,
    "stage1": _train,
    "stage2": _train,
    "eval": _run_eval,
}


def run_variant(cfg: VariantConfig, workdir: Path, on_log: LogFn | None = None) -> dict[str, float]:
    """One variant's whole chain in this process, into `workdir/<stage>/` (cache in
    `workdir/cache`); all final metrics."""
    folders = {stage: workdir / stage for stage in STAGES}
    metrics: dict[str, float] = {}
    for stage in STAGES:
        metrics.update(run_stage(stage, cfg, folders, workdir / "cache", on_log).metrics)
    return metrics
