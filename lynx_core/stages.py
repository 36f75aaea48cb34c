"""Which part of a `VariantConfig` each stage of the study reads.

A variant is a chain bases → stage1 → stage2 → eval. Each stage reads its own fields and, through
its parent's outputs, everything its ancestors read. Declaring the fields here, beside the code
that reads them (`lynx_core.pipeline`), lets a planner hash exactly what a stage depends on, so
that e.g. all variants differing only in stage-2 settings share one stage-1 run, and all seeds
of a variant share its frozen bases (`train.bases_seed`, not `train.seed`, trains those).

Every leaf field of `VariantConfig` belongs to exactly one stage (the longest matching prefix
below decides) or is declared as not affecting results; a field that matches nothing is an
error, so a new config field cannot silently escape the keys.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from lynx_core.config import RELEASED, TrainConfig, VariantConfig, flatten
from lynx_core.digests import digest_files

Stage = Literal["bases", "stage1", "stage2", "eval"]
STAGES: tuple[Stage, ...] = ("bases", "stage1", "stage2", "eval")
PARENT: dict[Stage, Stage | None] = {
    "bases": None,
    "stage1": "bases",
    "stage2": "stage1",
    "eval": "stage2",
}
# the ancestors whose outputs a stage loads: the frozen bases, and its parent's trained weights
# (eval builds on stage 2's weights, which already carry everything stage 1 trained)
READS: dict[Stage, tuple[Stage, ...]] = {
    "bases": (),
    "stage1": ("bases",),
    "stage2": ("bases", "stage1"),
    "eval": ("bases", "stage2"),
}

# the stages that compute on the trial's device, in its precision (the bases train on the CPU
# at toy scale, or are the user's weights): their keys hold the runtime they resolve to
ON_DEVICE: tuple[Stage, ...] = ("stage1", "stage2", "eval")

# bumped when a stage's code changes what it computes or writes, so that a store's earlier
# outputs of that stage (and of everything after it) are not reused as if still current
# 2: the world's splits by value and long tail, single prompts with length instructions, each
# seed's own sample of the world, the rule judge's hedges, POPE and CHAIR
# 3 (eval): every yes/no class of the toy Open-VQA sets holds as many "yes" as "no" questions
# 3 (bases, stage1, stage2), 4 (eval): the world's splits by picture (everything drawn) and
# by description, not by caption; text describes a scene with where its shapes stand
STAGE_VERSION: dict[Stage, int] = {"bases": 3, "stage1": 3, "stage2": 3, "eval": 4}

FIELD_STAGE: dict[str, Stage | None] = {
    # bases: the frozen LLM (trained on world text at toy scale, else the user's weights) and
    # the frozen vision tower (CLIP-pretrained on the world at toy scale, else the user's)
    "model.llm": "bases",
    "model.vision": "bases",
    "data.seed": "bases",
    "data.prompts.held_out_task": "bases",  # the toy Vicuna is never tuned on it either
    "train.bases_seed": "bases",
    "train.bases": "bases",
    "train.instruct": "bases",
    "train.clip": "bases",
    # stage 1: everything else about the model, and the caption data
    "model": "stage1",
    "model.llm.trainable": "stage1",
    "model.llm.lora": "stage1",
    "model.vision.frozen": "stage1",
    "model.vision.lr_scale": "stage1",
    "model.vision.max_frames": "stage1",
    "model.vision.frame_embed_std": "stage1",
    "data.captions": "stage1",
    "data.validation_examples": "stage1",  # the held-out loss curves of stages 1 and 2
    "train.stage1": "stage1",
    "train.seed": "stage1",  # a seed varies what the variant trains, never its frozen bases
    "train.stage2_seed": "stage2",  # a seed that varies stage 2 alone (`stage1_per_seed`)
    # stage 2: instruction tuning on the task mixture
    "data.train_images": "stage2",
    "data.train_videos": "stage2",
    "data.text_examples": "stage2",
    "data.mixture": "stage2",
    "data.prompts": "stage2",
    "data.train_files": "stage2",  # keyed by path and settings: edit a file, rename it
    "train.stage2": "stage2",
    # eval: decoding, judging and the held-out sets
    "eval": "eval",
    "data.eval_images": "eval",
    "data.eval_videos": "eval",
    "data.eval_mme_images": "eval",
    "data.eval_pope_images": "eval",
    "data.validation_images": "eval",
    # how often state is saved or a loss logged, how optimizer state is sharded and whether
    # frozen features are cached change no result (ZeRO's and the cache's equivalence with
    # the plain loop are tested); where a stage runs and in which precision is keyed as the
    # runtime it resolves to (`planned_runtime`), not as these settings
    "train.checkpoint_every": None,
    "train.log_every": None,
    "train.device": None,
    "train.precision": None,
    "train.deepspeed": None,
    "train.feature_cache": None,  # the same trunk outputs, computed once instead of per step
    "train.data_workers": None,  # the same batches, prepared in other processes
    "train.sample_log": None,  # a record of the batches, not a change to them
    "train.max_bad_share": None,  # when to stop on bad samples; what trains is the same
    # how activations are kept and which attention kernel computes: the same numbers up to
    # float rounding (tested), so neither re-keys a stage
    "train.gradient_checkpointing": None,
    "model.llm.attn_implementation": None,
}

# fields added after stores were written, with the value every earlier run had: a variant that
# leaves one at that value keeps the stage keys it had before the field existed, so the
# stages it already recorded are reused instead of recomputed
INTRODUCED_AT: dict[str, Any] = {
    "model.llm.prompt_template": "lynx",
    "data.captions.files": [],
    "data.captions.world_ratio": 1.0,
    "train.stage2_seed": None,
    **{f"eval.{name}": None for name in RELEASED},
    "model.connector": "resampler",  # (the other connectors' sections: `unread_prefixes`)
    "model.vision.family": "open_clip",
    "model.vision.timm_name": None,
    "model.vision.hf_path": None,
    "model.vision.lr_scale": 1.0,
}


def stage_of(field: str) -> Stage | None:
    """The stage that reads a dotted leaf field (None: affects no result)."""
    parts = field.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in FIELD_STAGE:
            return FIELD_STAGE[prefix]
    raise KeyError(
        f"config field {field!r} belongs to no stage; add it (or a prefix) to "
        "lynx_core.stages.FIELD_STAGE"
    )


# each connector's own section of `model` (`model.connector` names the one built): the others'
# settings are read by no stage, so a sweep's `base` may set them all without re-keying
CONNECTOR_SECTIONS: tuple[str, ...] = ("resampler", "mlp", "avg_pool")


def unread_prefixes(config: VariantConfig) -> tuple[str, ...]:
    """Prefixes (with their dot) of the fields this config holds but no stage reads."""
    return tuple(f"model.{c}." for c in CONNECTOR_SECTIONS if c != config.model.connector)


def read_fields(config: VariantConfig) -> dict[str, Any]:
    """The dotted fields, with values, that some stage reads (`stage_of`), less those the
    config's own choices leave unread (`unread_prefixes`): what changes a result."""
    flat = flatten(config.model_dump(mode="json"))
    unread = unread_prefixes(config)
    return {
        field: value
        for field, value in sorted(flat.items())
        if stage_of(field) is not None and not field.startswith(unread)
    }


def stage_inputs(config: VariantConfig, stage: Stage) -> dict[str, Any]:
    """The dotted fields, with values, that `stage` itself reads (ancestors' not included),
    less those at the value they had before they existed (`INTRODUCED_AT`)."""
    unset = object()
    return {
        field: value
        for field, value in read_fields(config).items()
        if stage_of(field) == stage and value != INTRODUCED_AT.get(field, unset)
    }


def planned_runtime(train: TrainConfig, gpus: bool) -> str:
    """The runtime an `ON_DEVICE` stage of a trial given (or not given) GPUs resolves to, as
    `lynx_core.compute.runtime.resolve_runtime` names it: 'cpu fp32', 'cuda bf16', ... (`auto`
    on a GPU assumes bf16 support; a worker that lacks it refuses to run the stage)."""
    device = "cuda" if train.device == "cuda" or (train.device == "auto" and gpus) else "cpu"
    precision = train.precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "fp32"
    return f"{device} {precision}"


def bases_phases(cfg: VariantConfig) -> list[str]:
    """The training phases the bases stage runs for `cfg`, in order; each logs a curve under
    its name. Toy scale: 'bases' (LLM pretraining on world text), 'instruct' (its toy-Vicuna
    instruction tuning) and 'clip' (the tower's CLIP pretraining). User weights skip them."""
    phases = []
    if cfg.model.llm.path is None:
        phases.append("bases")
        if cfg.model.llm.toy_base == "vicuna":
            phases.append("instruct")
    if not cfg.model.vision.given:
        phases.append("clip")
    return [p for p in phases if getattr(cfg.train, p).steps > 0]


def data_versions(
    config: VariantConfig, stage: Stage, digest: Callable[[Path], str] = digest_files
) -> dict[str, str]:
    """Versions of the user's files a stage reads (stage 1: `data.captions.files`; stage 2:
    `data.train_files`; eval: `eval.suite` and the released benchmarks it names), so editing
    them in place re-keys the stage instead of reusing stale results. Files not on this
    machine (planning on a laptop) are keyed by path alone. `digest` lets a caller planning
    many variants walk each path once."""
    paths = DATA_FILES[stage](config) if stage in DATA_FILES else []
    return {str(p): digest(p) for p in paths if p.exists()}


def _caption_files(config: VariantConfig) -> list[Path]:
    # the files that list the pairs: a folder of 558K images would be walked on every plan
    return [path for source in config.data.captions.files for path in source.paths]


def _train_files(config: VariantConfig) -> list[Path]:
    return [f.path for f in config.data.train_files]


def _eval_files(config: VariantConfig) -> list[Path]:
    suites = (config.eval.suite, config.eval.validation_suite)
    paths = [suite for suite in suites if suite is not None]
    for benchmark in config.eval.released.values():
        paths += [p for p in (benchmark.path, benchmark.media_root) if p is not None]
    return paths


# the user's data files each stage reads, keyed by content (none for the bases)
DATA_FILES: dict[Stage, Callable[[VariantConfig], list[Path]]] = {
    "stage1": _caption_files,
    "stage2": _train_files,
    "eval": _eval_files,
}
