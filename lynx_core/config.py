"""Typed configuration of one Lynx variant: model, data, training stages and evaluation.

A variant *is* a `VariantConfig`; a sweep is a list of them. Every model forbids unknown keys,
so a typo in a sweep file is an error, not a silently ignored setting. This module only
describes; builders elsewhere turn configs into modules, datasets and loops.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class MustExist:
    """Marks a path the validating machine must have (weights, data): `LocalPath`.

    The config only marks it; `lynx_core.checks.missing_paths` looks on disk, in the sweep's
    validation step, so that a config can be built and planned anywhere.
    """


LocalPath = Annotated[Path, AfterValidator(Path.expanduser), MustExist()]
"""A local file or folder the stages will read: checked to exist before compute."""


class StrictModel(BaseModel):
    """Base for all configs: unknown keys are errors, instances are immutable, and a number
    or a switch is never read from a value of another kind (pydantic alone reads `true` as
    the batch size 1 and the text 'yes' as a switch that is on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_lax_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if typing.get_origin(annotation) is dict and isinstance(value, dict):  # data.mixture
            for item in value.values():
                _strict_scalar(item, _scalar_kinds(typing.get_args(annotation)[1]))
            return value
        return _strict_scalar(value, _scalar_kinds(annotation))


def _strict_scalar(value: Any, kinds: set[type]) -> Any:
    if isinstance(value, bool) and kinds and bool not in kinds:
        raise ValueError("expects a number, not a switch (true/false)")
    if isinstance(value, str) and kinds:
        expected = "true or false" if kinds == {bool} else "a number"
        raise ValueError(f"expects {expected}, not text (YAML 1.1's yes/no/on/off are text)")
    if isinstance(value, int | float) and not isinstance(value, bool) and kinds == {bool}:
        raise ValueError("expects true or false, not a number")
    return value


def _scalar_kinds(annotation: Any) -> set[type]:
    """{int, float, bool} ∩ what a field takes (through `X | None`); empty for other fields."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in _UNIONS else ()
    found = {a for a in (options or (annotation,)) if a in (int, float, bool)}
    others = {a for a in (options or (annotation,)) if a not in (int, float, bool, type(None))}
    return set() if others else found


_UNIONS = (typing.Union, types.UnionType)


SEED_LIMIT = 2**32  # numpy's generators take seeds below this


def _divides(heads: int, width: int, what: str, of: str) -> None:
    if width % heads:
        raise ValueError(f"{what} ({heads}) must divide {of} ({width})")


class VisionConfig(StrictModel):
    """Vision tower from open_clip: a named model config, or a tiny custom ViT for toy scale."""

    open_clip_name: str | None = Field(
        None, description="open_clip model config name, e.g. 'EVA01-g-14'; None = custom ViT below"
    )
    checkpoint: LocalPath | None = Field(None, description="open_clip checkpoint file")
    image_size: int = Field(32, gt=0, description="input resolution in pixels")
    patch_size: int = Field(8, gt=0)
    width: int = Field(64, gt=0)
    layers: int = Field(2, gt=0)
    head_width: int = Field(32, gt=0)
    max_frames: int = Field(
        4,
        gt=0,
        description="frames per video, sampled evenly over the clip (a shorter clip repeats "
        "frames); one learned embedding each. Toy clips have 4; Lynx uses 5",
    )
    frozen: bool = True

    @model_validator(mode="after")
    def _patches_tile_image(self) -> VisionConfig:
        if self.open_clip_name is None and self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.open_clip_name is None and self.width % self.head_width:
            raise ValueError(
                f"width {self.width} is not a multiple of head_width {self.head_width} "
                "(the toy tower's heads split its width)"
            )
        return self


class ResamplerConfig(StrictModel):
    """Perceiver resampler: `num_queries` learned latents cross-attend to the patch tokens."""

    num_queries: int = Field(8, gt=0, description="visual tokens handed to the LLM")
    depth: int = Field(1, gt=0)
    heads: int = Field(4, gt=0)
    dim: int = Field(64, gt=0)

    @model_validator(mode="after")
    def _heads_split_dim(self) -> ResamplerConfig:
        _divides(self.heads, self.dim, "resampler heads", "its dim")
        return self


class LoraConfig(StrictModel):
    """LoRA on the LLM's projections (via peft): a cheap 'trainable LLM'."""

    rank: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "v_proj"]


class LLMConfig(StrictModel):
    """The causal LM: a local HF checkpoint, or a randomly initialised LLaMA of the given size."""

    path: LocalPath | None = Field(None, description="folder for from_pretrained; None = random")
    hidden_size: int = Field(128, gt=0)
    layers: int = Field(4, gt=0)
    heads: int = Field(4, gt=0)
    intermediate_size: int = Field(256, gt=0)
    vocab_size: int | None = Field(None, gt=0, description="None: the tokenizer's size")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    trainable: bool = Field(False, description="unfreeze all of the LLM (paper: 'trainable LLM')")
    lora: LoraConfig | None = Field(None, description="train LoRA weights instead of the LLM")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa",
        description="the LLM's attention kernel (transformers' `attn_implementation`): the "
        "same result up to float rounding; flash_attention_2 needs the flash-attn package "
        "and a CUDA GPU",
    )
    prompt_template: Literal["lynx", "vicuna_v1.1"] = Field(
        "lynx",
        description="how conversations are written for this LLM (lynx_core.data.dialogue): "
        "'lynx' is the released Lynx prompt 'User: {q}\\nBot: {a}'; 'vicuna_v1.1' is the "
        "format Vicuna v1.1+ was fine-tuned on (system message, 'USER: {q} ASSISTANT: {a}</s>')",
    )
    toy_base: Literal["llama", "vicuna"] = Field(
        "vicuna",
        description="toy bases only (ignored with `path`): 'llama' is pretrained on plain world "
        "text; 'vicuna' is that model instruction-tuned on dialogue-format text",
    )

    @model_validator(mode="after")
    def _one_way_to_train(self) -> LLMConfig:
        if self.trainable and self.lora is not None:
            raise ValueError("set either trainable: true (full fine-tuning) or lora, not both")
        return self

    @model_validator(mode="after")
    def _heads_split_width(self) -> LLMConfig:
        if self.path is None:  # a local model's sizes are its own (lynx_core.checks reads them)
            _divides(self.heads, self.hidden_size, "llm heads", "its hidden_size")
        return self


class CrossAttentionConfig(StrictModel):
    """Flamingo-style gated cross-attention before every `every`-th LLM layer."""

    every: int = Field(1, gt=0)
    heads: int = Field(4, gt=0)


class AdapterConfig(StrictModel):
    """Bottleneck adapters after frozen LLM layers (zero-initialised, so they start as identity).

    Placed after `layers` when given, else after layers 0, every, 2·every, … (Lynx: every 2nd).
    """

    enabled: bool = False
    every: int = Field(2, gt=0)
    layers: list[int] | None = Field(None, description="explicit layer indices; overrides every")
    bottleneck: int = Field(32, gt=0)


class ModelConfig(StrictModel):
    arch: Literal["prefix", "cross_attention"] = "prefix"
    image_token: str = Field(
        "<image>", description="prompt placeholder marking where the media go, if present"
    )
    vision: VisionConfig = VisionConfig()
    resampler: ResamplerConfig = ResamplerConfig()
    llm: LLMConfig = LLMConfig()
    cross_attention: CrossAttentionConfig = CrossAttentionConfig()
    adapters: AdapterConfig = AdapterConfig()

    @model_validator(mode="after")
    def _fits_the_toy_llm(self) -> ModelConfig:
        """Layer indices and head counts against the toy LLM (a local model's own sizes are
        checked where its config is read, `lynx_core.checks`)."""
        if self.llm.path is None:
            misfits = self.misfits(self.llm.layers, self.llm.hidden_size, "the LLM")
            if misfits:
                raise ValueError("; ".join(why for _, why in misfits))
        return self

    def misfits(self, layers: int, width: int, llm: str) -> list[tuple[str, str]]:
        """(field, why) where the adapters or the cross-attention do not fit an LLM of
        `layers` layers and hidden size `width` (`llm` names it in the message)."""
        found = []
        outside = sorted(i for i in self.adapters.layers or [] if not 0 <= i < layers)
        if self.adapters.enabled and outside:
            found.append(
                (
                    "model.adapters.layers",
                    f"adapters.layers {outside} are not layers of {llm} (it has {layers}: "
                    f"0 to {layers - 1})",
                )
            )
        heads = self.cross_attention.heads
        if self.arch == "cross_attention" and width % heads:
            found.append(
                (
                    "model.cross_attention.heads",
                    f"cross_attention heads ({heads}) must divide {llm}'s hidden_size ({width})",
                )
            )
        return found


# the generated world's tasks, the keys of `lynx_core.data.tasks.TASKS` (a test holds them
# equal): named here so that the configuration validates a mixture without importing data code
TASK_NAMES = (
    "caption", "color", "count", "shape", "ocr", "spatial", "place", "exist", "moving",
    "direction", "order", "text",
)  # fmt: skip


class TextFilterConfig(StrictModel):
    """Web-caption heuristics (as C4's and LAION's cleaning use): enough words, no word
    repeated over most of the caption, mostly letters. A pair failing any is dropped."""

    min_words: int = Field(3, ge=1)
    max_repeat_share: float = Field(
        0.5, gt=0, le=1, description="the most frequent word's share of the words, at most"
    )
    min_alpha_share: float = Field(
        0.6, ge=0, le=1, description="letters' share of the non-space characters, at least"
    )


class ClipFilterConfig(StrictModel):
    """LAION's filter: keep a pair whose image and caption embeddings, by a CLIP model, have
    at least `threshold` cosine similarity."""

    model: str = Field(description="an open_clip model name, e.g. ViT-B-32")
    checkpoint: LocalPath = Field(description="its weights file (weights are never downloaded)")
    threshold: float = Field(
        0.28, ge=-1, le=1, description="LAION-5B kept 0.28 with ViT-B/32 (LAION-400M: 0.3)"
    )
    batch_size: int = Field(64, gt=0)


class CaptionFileConfig(StrictModel):
    """Image–caption pairs of your own for stage 1, read from local disk by random access
    (never loaded whole; see `lynx_core.data.caption_files`):

    - `webdataset`: tar shards, `path` one shard or a brace pattern (`cc3m-{00000..00331}.tar`),
      each sample an image (.jpg/.jpeg/.png/.webp) and a caption (.txt, or .json with
      'caption' or 'text') sharing a key;
    - `llava_pretrain`: LLaVA's pretraining json (`blip_laion_cc_sbu_558k.json`), its images
      under `media_root`, the caption the 'gpt' turn;
    - `hf`: a Hugging Face dataset saved with `save_to_disk` (a folder) or parquet files (a
      file or brace pattern), with `image_column` and `text_column`.
    """

    format: Literal["webdataset", "llava_pretrain", "hf"]
    path: str = Field(min_length=1, description="a file, folder or brace pattern of files")
    media_root: str | None = Field(None, description="llava_pretrain: None = the json's folder")
    image_column: str = "image"
    text_column: str = "text"
    ratio: float = Field(1.0, gt=0, description="its share of stage 1's batches")
    name: str | None = Field(None, description="its name in logs; None = the path's stem")
    text_filter: TextFilterConfig | None = Field(
        None, description="drop pairs whose caption fails web-caption heuristics; None: keep all"
    )
    clip_filter: ClipFilterConfig | None = Field(
        None, description="drop pairs whose image and caption a CLIP model finds unalike"
    )

    @property
    def paths(self) -> list[Path]:
        """The files `path` names, its brace pattern expanded (a string operation only)."""
        from braceexpand import braceexpand

        return [Path(p).expanduser() for p in braceexpand(self.path)]

    @property
    def source_name(self) -> str:
        return self.name or Path(self.path.split("{")[0] or self.path).stem.rstrip("-_") or "file"

    @model_validator(mode="after")
    def _fields_of_its_format(self) -> CaptionFileConfig:
        if self.media_root is not None and self.format != "llava_pretrain":
            raise ValueError("media_root is for format llava_pretrain (the others hold images)")
        if self.format == "llava_pretrain" and len(self.paths) != 1:
            raise ValueError("a llava_pretrain path is one json file, not a pattern")
        return self


class CaptionConfig(StrictModel):
    """Stage 1's image-caption pairs: the generated world's (how many, how clean; paper:
    small clean vs large noisy) and, mixed in by ratio or alone, the user's `files`."""

    quality: Literal["clean", "noisy"] = "clean"
    images: int = Field(512, gt=0, description="image-caption pairs")
    quality_filter: bool = Field(
        False,
        description="generated captions: drop those shorter than 3 words or containing the "
        "toy world's web filler words",
    )
    files: list[CaptionFileConfig] = Field(
        default_factory=list, description="image–caption pairs of your own"
    )
    world_ratio: float = Field(
        1.0, ge=0, description="the generated captions' share of batches beside `files`; 0: none"
    )

    @model_validator(mode="after")
    def _some_captions(self) -> CaptionConfig:
        if self.world_ratio == 0 and not self.files:
            raise ValueError("world_ratio is 0 and there are no files: stage 1 has no captions")
        names = [f.source_name for f in self.files]
        twice = sorted({n for n in names if names.count(n) > 1 or n == "world"})
        if twice:
            raise ValueError(
                f"caption file name(s) {', '.join(twice)} repeat or clash with 'world'; give "
                "each file its own `name:`"
            )
        return self


class PromptConfig(StrictModel):
    """How stage-2 questions are phrased (paper: 'w/o diverse prompts')."""

    mode: Literal["single", "diverse"] = Field(
        "diverse", description="one template per task, or ≥ 10 paraphrases + length hints"
    )
    length_instruction_rate: float = Field(
        0.3, ge=0, le=1, description="diverse mode: share of prompts carrying a length instruction"
    )
    held_out_task: str | None = Field(
        "place", description="a task never trained on, evaluated zero-shot; None = train all"
    )

    @model_validator(mode="after")
    def _known_task(self) -> PromptConfig:
        if self.held_out_task is not None and self.held_out_task not in TASK_NAMES:
            raise ValueError(
                f"held_out_task {self.held_out_task!r} is not a task; known: "
                f"{', '.join(TASK_NAMES)}"
            )
        return self


class TrainFileConfig(StrictModel):
    """A training file of your own for stage 2 (LLaVA conversations or the simple
    `{image|video, instruction, answer}` format; see `lynx_core.data.formats`). It is a task
    of the mixture under `task`; its media paths are relative to `media_root`."""

    path: LocalPath
    media_root: LocalPath | None = Field(None, description="None: the file's folder")
    format: Literal["auto", "llava", "simple"] = "auto"
    task: str | None = Field(None, description="its name in data.mixture; None = file stem")
    skip_missing_media: bool = Field(
        False, description="train without rows whose media are missing (each is reported)"
    )

    @property
    def task_name(self) -> str:
        return self.task or self.path.stem

    @property
    def root(self) -> Path:
        return self.media_root or self.path.parent


def _default_mixture() -> dict[str, float]:
    return dict.fromkeys(TASK_NAMES, 1.0)


class DataConfig(StrictModel):
    """The generated world: its seed, the training sets' sizes, the stage-2 task mixture and
    prompts, and the held-out evaluation sets' sizes."""

    seed: int = Field(0, ge=0, lt=SEED_LIMIT, description="the generated world's")
    captions: CaptionConfig = CaptionConfig()
    train_images: int = Field(512, gt=0, description="stage-2 images")
    train_videos: int = Field(192, ge=0, description="stage-2 videos")
    text_examples: int = Field(1024, ge=0, description="stage-2 text-only instructions")
    mixture: dict[str, float] = Field(
        default_factory=_default_mixture,
        description="stage-2 sampling ratio per task, normalised; a task not listed gets 0 "
        "(default: every task 1.0); the held-out task is never trained",
    )
    prompts: PromptConfig = PromptConfig()
    train_files: list[TrainFileConfig] = Field(
        default_factory=list,
        description="your own stage-2 training files; each is a mixture task (ratio 1.0 "
        "unless data.mixture is given, which must then list it)",
    )
    # sized so that a difference between two variants on one seed is known to ±3 points on
    # images and ±5 on videos (95%, even at 50% accuracy with independent errors): ≥ 2135 and
    # ≥ 769 questions; 384 images ask 2224, 528 clips 785
    eval_images: int = Field(384, gt=0, description="held-out images (~5.8 questions each)")
    eval_videos: int = Field(528, ge=0, description="held-out clips (~1.5 questions each)")
    eval_mme_images: int = Field(40, ge=0, description="MME-form images per subtask")

    @model_validator(mode="before")
    @classmethod
    def _files_join_default_mixture(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("train_files") and "mixture" not in data:
            files = [f.model_dump() if isinstance(f, BaseModel) else f for f in data["train_files"]]
            if not all(isinstance(f, dict) for f in files):
                return data  # the schema says what an entry must be
            names = [f.get("task") or Path(str(f.get("path", ""))).stem for f in files]
            data = {**data, "mixture": {**_default_mixture(), **dict.fromkeys(names, 1.0)}}
        return data

    @model_validator(mode="after")
    def _valid_mixture(self) -> DataConfig:
        file_tasks = [f.task_name for f in self.train_files]
        clashes = sorted({t for t in file_tasks if t in TASK_NAMES or file_tasks.count(t) > 1})
        if clashes:
            raise ValueError(
                f"train_files task name(s) {', '.join(clashes)} clash with a built-in task or "
                "another file; give each file its own `task:` name"
            )
        known = [*TASK_NAMES, *file_tasks]
        unknown = sorted(set(self.mixture) - set(known))
        if unknown:
            raise ValueError(
                f"mixture names unknown task(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        negative = sorted(k for k, v in self.mixture.items() if v < 0)
        if negative:
            raise ValueError(f"mixture ratios must be ≥ 0; negative: {', '.join(negative)}")
        trained = [v for k, v in self.mixture.items() if k != self.prompts.held_out_task]
        if not any(v > 0 for v in trained):
            raise ValueError(
                f"mixture {self.mixture} gives every trained task ratio 0 (tasks not listed get "
                f"0; held out: {self.prompts.held_out_task}); list the tasks to train with "
                f"ratios > 0, from: {', '.join(known)}"
            )
        return self


class StageConfig(StrictModel):
    """One optimisation stage: steps, batch, cosine schedule with warmup."""

    steps: int = Field(40, ge=0)
    batch_size: int = Field(16, gt=0)
    lr: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(4, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    grad_accumulation: int = Field(
        1, gt=0, description="micro-batches per optimizer step (batch_size is per micro-batch)"
    )


class DeepSpeedConfig(StrictModel):
    """Optional DeepSpeed ZeRO for the variant's training stages (stages 1 and 2).

    ZeRO shards optimizer state (1), also gradients (2), also parameters (3) across the data-
    parallel workers; the optimisation is the same AdamW, schedule and clipping as without it,
    so results do not depend on it (tested). The toy bases always train without it."""

    zero_stage: Literal[0, 1, 2, 3] = 2
    offload_optimizer: bool = Field(False, description="keep optimizer state in CPU memory")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="extra DeepSpeed config keys merged over the generated ones "
        "(e.g. {'zero_optimization': {'overlap_comm': true}})",
    )


class TrainConfig(StrictModel):
    """Bases (toy LLM, its instruction tuning, CLIP tower) → stage 1 (align on captions) →
    stage 2 (instruct on the task mixture)."""

    seed: int = Field(
        0,
        ge=0,
        lt=SEED_LIMIT,
        description="what the variant trains: its new modules' init and its batches (a sweep's "
        "`seeds:` set it)",
    )
    bases_seed: int = Field(
        0,
        ge=0,
        lt=SEED_LIMIT,
        description="the toy bases' seed: the frozen LLM and tower are the study's fixed "
        "starting point, as Vicuna and EVA are the paper's, whatever the variant's seed",
    )
    bases: StageConfig = StageConfig(steps=500, batch_size=32, lr=3e-3, warmup_steps=20)
    instruct: StageConfig = StageConfig(steps=400, batch_size=32, lr=1e-3, warmup_steps=20)
    clip: StageConfig = StageConfig(steps=300, batch_size=64, lr=1e-3, warmup_steps=20)
    stage1: StageConfig = StageConfig(steps=300)
    stage2: StageConfig = StageConfig(steps=800)
    log_every: int = Field(5, gt=0)
    checkpoint_every: int = Field(50, gt=0, description="steps between resumable checkpoints")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where stages 1, 2 and eval run; auto = CUDA when there is one"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 autocast or fp32; auto = bf16 on a CUDA GPU that supports it"
    )
    deepspeed: DeepSpeedConfig | None = Field(None, description="train stages 1–2 with ZeRO")
    gradient_checkpointing: bool = Field(
        False,
        description="recompute the LLM's layer activations in the backward pass instead of "
        "keeping them (stages 1–2): ~1/3 more compute for memory that no longer grows with "
        "depth; the same gradients",
    )
    feature_cache: bool = Field(
        True,
        description="run a frozen vision trunk once per generated-world image or clip and "
        "reuse its tokens (the same result up to float rounding; off where they do not fit "
        "in memory)",
    )
    data_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="DataLoader worker processes decoding the images of your caption files "
        "ahead of the training step (stages 1–2); 0: in the training process",
    )
    sample_log: bool = Field(
        False,
        description="write the key of every sample each rank trains on, batch by batch, to "
        "samples.rank<k>.jsonl in the stage's folder (stages 1–2; a data audit: which rows "
        "a model saw, in which order; a stage already recorded is reused without one)",
    )

    @model_validator(mode="after")
    def _checkpoints_on_log_steps(self) -> TrainConfig:
        if self.checkpoint_every % self.log_every:
            raise ValueError(
                f"checkpoint_every {self.checkpoint_every} must be a multiple of log_every "
                f"{self.log_every}, so a resumed run logs the same windows"
            )
        return self


class GptJudgeConfig(StrictModel):
    """Which model judges, where, and how hard to try. The key itself never appears here."""

    model: str = Field("gpt-4-0613", description="judge model; its reported version is recorded")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None = OpenAI")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable with the key")
    concurrency: int = Field(16, gt=0)
    max_attempts: int = Field(6, gt=0, description="tries per request before 'error'")
    backoff_s: float = Field(1.0, gt=0, description="first retry delay; doubles, full jitter")
    max_backoff_s: float = Field(30.0, gt=0)
    timeout_s: float = Field(60.0, gt=0)
    cache_dir: Path | None = Field(
        None, description="verdict cache; None = cache/judge_cache/ in the stage store"
    )


class BenchmarkConfig(StrictModel):
    """A released benchmark where you keep it, as distributed: nothing renamed or moved."""

    path: LocalPath = Field(description="its question file (Open-VQA, OwlEval) or folder (MME)")
    media_root: LocalPath | None = Field(
        None,
        description="what its media paths are relative to; None = the file's folder (MME: the "
        "folder itself)",
    )


RELEASED = ("openvqa_image", "openvqa_video", "mme", "owleval")  # EvalConfig's benchmark fields


class EvalConfig(StrictModel):
    max_new_tokens: int = Field(8, gt=0)
    num_beams: int = Field(1, gt=0, description="Lynx decodes with 5 beams")
    batch_size: int = Field(32, gt=0)
    judge: Literal["rule", "gpt"] = Field(
        "rule", description="who decides right/wrong: the offline rule judge or a GPT judge"
    )
    gpt_judge: GptJudgeConfig = GptJudgeConfig()
    suite: LocalPath | None = Field(
        None,
        description="your evaluation folder, laid out like the generated one: openvqa/image.jsonl "
        "and openvqa/video.jsonl (Open-VQA format, media under openvqa/), mme/ (MME release "
        "layout), owleval/questions.jsonl (OwlEval format, images under owleval/); any part "
        "may be missing. None = the generated suite",
    )
    openvqa_image: BenchmarkConfig | None = Field(
        None,
        description="Open-VQA's released image file (Open_VQA_images.jsonl; 'image' paths such "
        "as images/…); None = the suite's",
    )
    openvqa_video: BenchmarkConfig | None = Field(
        None,
        description="Open-VQA's released video file (Open_VQA_videos.jsonl; 'video' paths to "
        "mp4 clips); None = the suite's",
    )
    mme: BenchmarkConfig | None = Field(
        None, description="MME's release folder (one folder per subtask); None = the suite's"
    )
    owleval: BenchmarkConfig | None = Field(
        None, description="OwlEval's questions.jsonl, images under its folder; None = the suite's"
    )
    detailed_min_words: int = Field(
        4, gt=0, description="an answer to 'explain in detail' complies from this many words"
    )

    @property
    def released(self) -> dict[str, BenchmarkConfig]:
        """The released benchmarks this config names, by field."""
        return {name: b for name in RELEASED if (b := getattr(self, name)) is not None}

    compliance_questions: int = Field(
        200,
        gt=0,
        description="image questions asked again with each held-out length instruction",
    )


class VariantConfig(StrictModel):
    """Everything one variant of the study can change."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()


def config_hash(config: BaseModel, length: int = 12) -> str:
    """Stable content hash of a config (key order and formatting do not matter)."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict → {'a.b.c': value}; used for MLflow params and override paths."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{'a.b.c': value} → nested dict; the inverse of `flatten` (later keys win)."""
    nested: dict[str, Any] = {}
    for path, value in dotted.items():
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # 'a: 1' and 'a.b: 2' together
                child = node[part] = {}
            node = child
        node[leaf] = value
    return nested
