"""The study's stages as functions: bases → stage 1 (align on captions) → stage 2 (instruct) → eval.

`run_stage(stage, cfg, folders)` reads the outputs of the stage's ancestors from their folders
and writes its own into `folders[stage]`: the toy LLM (bases), the trained weights
(`trainable.safetensors`, stages 1 and 2) or `predictions.jsonl` (eval). Training stages keep a
resumable checkpoint in their folder, so calling a stage again after a crash continues it.
The orchestration layer decides which folders are shared between variants; `run_variant` runs
one variant's whole chain in one process. No Ray, no MLflow.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lynx_core.atomic import write_text
from lynx_core.config import StageConfig, VariantConfig
from lynx_core.data.batches import batch_indices, collate
from lynx_core.data.toyworld import Example, World, make_world
from lynx_core.evaluate import openvqa
from lynx_core.evaluate.gpt_judge import GptJudge, verdict_counts
from lynx_core.evaluate.instructions import length_stats
from lynx_core.model.lynx import LynxModel, build_lynx
from lynx_core.stages import PARENT, STAGES, Stage
from lynx_core.train.bases import load_bases, prepare_bases
from lynx_core.train.loop import LogFn, Record, train_stage

log = logging.getLogger(__name__)
WEIGHTS = "trainable.safetensors"
PREDICTIONS = "predictions.jsonl"


@dataclass
class StageOutput:
    """What a stage reports: final metrics, its logged training curve (empty for eval), and
    facts that are not numbers (e.g. which judge scored)."""

    metrics: dict[str, float] = field(default_factory=dict)
    history: list[Record] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def build_model(cfg: VariantConfig, bases: Path) -> tuple[LynxModel, object]:
    """The variant's model around its frozen bases; the frozen tower is the same in every stage."""
    tokenizer, llm = load_bases(cfg, bases)
    torch.manual_seed(cfg.train.seed)  # same frozen tower for every variant of a seed
    return build_lynx(cfg.model, tokenizer, llm), tokenizer


def _step_loss(model: LynxModel, tokenizer, examples: list[Example], world: World, cfg, seed):
    image_size = model.cfg.vision.image_size

    def step_loss(step: int) -> torch.Tensor:
        rows = batch_indices(len(examples), cfg.batch_size, step, seed)
        batch = collate([examples[i] for i in rows], world.images, tokenizer, image_size)
        return model(**batch).loss

    return step_loss


def _train(
    stage: Stage,
    cfg: VariantConfig,
    folders: dict[Stage, Path],
    on_log: LogFn | None,
) -> StageOutput:
    model, tokenizer = build_model(cfg, folders["bases"])
    parent = PARENT[stage]
    if parent != "bases":
        model.load_trainable(folders[parent] / WEIGHTS)
    world = make_world(cfg.data.seed, cfg.data.train_images, split="train")
    examples = world.captions() if stage == "stage1" else world.questions()
    stage_cfg: StageConfig = getattr(cfg.train, stage)
    model.train()
    history = train_stage(
        _step_loss(model, tokenizer, examples, world, stage_cfg, cfg.train.seed),
        model.trainable_parameters(),
        stage_cfg,
        stage=stage,
        log_every=cfg.train.log_every,
        on_log=on_log,
        checkpoint=folders[stage] / "train.ckpt",
        checkpoint_every=cfg.train.checkpoint_every,
    )
    model.save_trainable(folders[stage] / WEIGHTS)
    metrics = {f"{stage}/final_loss": float(history[-1]["loss"]) if history else float("nan")}
    if stage == "stage1":
        metrics.update({f"params/{k}": v for k, v in model.parameter_counts().items()})
    return StageOutput(metrics, history)


def _evaluate(cfg: VariantConfig, folders: dict[Stage, Path]) -> StageOutput:
    model, tokenizer = build_model(cfg, folders["bases"])
    model.load_trainable(folders["stage2"] / WEIGHTS)
    world = make_world(cfg.data.seed, cfg.data.eval_images, split="eval")
    questions = world.questions()
    answers = openvqa.generate_answers(
        model, tokenizer, questions, world.images, cfg.model.vision.image_size, cfg.eval
    )
    metrics: dict[str, float] = {}
    if cfg.eval.judge == "gpt":
        judge_cfg = cfg.eval.gpt_judge
        if judge_cfg.cache_dir is None:  # store/<stage>/<key>: one cache for the whole store
            judge_cfg = judge_cfg.model_copy(
                update={"cache_dir": folders["eval"].parents[1] / "judge_cache"}
            )
        found = GptJudge(judge_cfg).judge_many(
            [q.prompt for q in questions], [[q.answer] for q in questions], answers
        )
        versions = sorted({v.judge_model for v in found})
        scores, records = openvqa.score(
            questions, answers, [v.correct for v in found], f"gpt:{','.join(versions)}"
        )
        for record, verdict in zip(records, found, strict=True):
            record["verdict"], record["judge_reply"] = verdict.label, verdict.reply
        metrics.update(verdict_counts(found))
    else:
        scores, records = openvqa.score(questions, answers)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    write_text(folders["eval"] / PREDICTIONS, lines)
    log.info("evaluated: overall %.1f%% (judge %s)", scores["overall"], records[0]["judge"])
    metrics.update({f"openvqa/{k}": v for k, v in scores.items()})
    metrics.update(length_stats(answers))
    return StageOutput(metrics, tags={"lynx_judge": records[0]["judge"] if records else ""})


def run_stage(
    stage: Stage, cfg: VariantConfig, folders: dict[Stage, Path], on_log: LogFn | None = None
) -> StageOutput:
    """Run one stage of `cfg` into `folders[stage]`, given its ancestors' folders."""
    started = time.perf_counter()
    folders[stage].mkdir(parents=True, exist_ok=True)
    if stage == "bases":
        output = StageOutput(history=prepare_bases(cfg, folders["bases"], on_log))
    elif stage == "eval":
        output = _evaluate(cfg, folders)
    else:
        output = _train(stage, cfg, folders, on_log)
    output.metrics[f"{stage}/wall_time_s"] = time.perf_counter() - started
    return output


def run_variant(cfg: VariantConfig, workdir: Path, on_log: LogFn | None = None) -> dict[str, float]:
    """One variant's whole chain in this process, into `workdir/<stage>/`; all final metrics."""
    folders = {stage: workdir / stage for stage in STAGES}
    metrics: dict[str, float] = {}
    for stage in STAGES:
        metrics.update(run_stage(stage, cfg, folders, on_log).metrics)
    return metrics
