"""One variant end to end: bases → stage 1 (align on captions) → stage 2 (instruct) → eval.

The orchestration layer calls `run_variant` inside a worker; it reports progress through a
callback, writes its outputs under `workdir`, and returns plain metrics. No Ray, no MLflow.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from lynx_core.atomic import write_text
from lynx_core.config import VariantConfig
from lynx_core.data.batches import batch_indices, collate
from lynx_core.data.toyworld import Example, World, make_world
from lynx_core.evaluate import openvqa
from lynx_core.evaluate.rule_judge import JUDGE_NAME
from lynx_core.model.lynx import LynxModel, build_lynx
from lynx_core.train.bases import ensure_bases
from lynx_core.train.loop import LogFn, train_stage

log = logging.getLogger(__name__)


def _stage_loss(model: LynxModel, tokenizer, examples: list[Example], world: World, cfg, seed):
    image_size = model.cfg.vision.image_size

    def step_loss(step: int) -> torch.Tensor:
        rows = batch_indices(len(examples), cfg.batch_size, step, seed)
        batch = collate([examples[i] for i in rows], world.images, tokenizer, image_size)
        return model(**batch).loss

    return step_loss


def run_variant(
    cfg: VariantConfig, workdir: Path, bases_root: Path, on_log: LogFn | None = None
) -> dict[str, float]:
    """Train and evaluate one variant; returns final metrics, writes predictions and weights."""
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    tokenizer, llm = ensure_bases(cfg, bases_root, on_log)
    torch.manual_seed(cfg.train.seed)  # same frozen tower for every variant of a seed
    model = build_lynx(cfg.model, tokenizer, llm)
    train_world = make_world(cfg.data.seed, cfg.data.train_images, split="train")
    eval_world = make_world(cfg.data.seed, cfg.data.eval_images, split="eval")

    metrics: dict[str, float] = {f"params/{k}": v for k, v in model.parameter_counts().items()}
    model.train()
    params = model.trainable_parameters()
    for stage, examples in (
        ("stage1", train_world.captions()),
        ("stage2", train_world.questions()),
    ):
        stage_cfg = getattr(cfg.train, stage)
        step_loss = _stage_loss(model, tokenizer, examples, train_world, stage_cfg, cfg.train.seed)
        metrics[f"{stage}/final_loss"] = train_stage(
            step_loss,
            params,
            stage_cfg,
            stage=stage,
            log_every=cfg.train.log_every,
            on_log=on_log,
            checkpoint=workdir / f"{stage}.ckpt",
            checkpoint_every=cfg.train.checkpoint_every,
        )
    model.save_trainable(workdir / "trainable.safetensors")

    questions = eval_world.questions()
    answers = openvqa.generate_answers(
        model, tokenizer, questions, eval_world.images, cfg.model.vision.image_size, cfg.eval
    )
    scores, records = openvqa.score(questions, answers)
    write_text(workdir / "predictions.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    metrics.update({f"openvqa/{k}": v for k, v in scores.items()})
    metrics["wall_time_s"] = time.perf_counter() - started
    log.info("variant done: overall %.1f%% (judge %s)", scores["overall"], JUDGE_NAME)
    return metrics
