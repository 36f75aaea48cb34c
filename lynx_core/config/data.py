"""What a variant trains and evaluates on: the generated world's sizes and task mixture,
prompts, stage-1 caption files with their filters, and stage-2 training files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from lynx_core.config.base import SEED_LIMIT, LocalPath, StrictModel
from lynx_core.config.patterns import MAX_PATTERN_NAMES, pattern_size

# the generated world's tasks, the keys of `lynx_core.data.world.tasks.TASKS` (a test holds them
# equal): named here so that the configuration validates a mixture without importing data code
TASK_NAMES = (
    "caption", "color", "count", "shape", "ocr", "spatial", "place", "exist", "moving",
    "direction", "order", "text",
)  # fmt: skip

# what kind of training data a stage-2 task is: the generated world's tasks declare theirs
# (`lynx_core.data.world.tasks`), a training file its `role:`. 'vqa' is downstream question
# answering with short answers (image or video; OCR and reasoning questions too): the data
# whose share the paper's fourth conclusion is about
TaskRole = Literal["captioning", "vqa", "conversation", "text_instruction"]


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
    (never loaded whole; see `lynx_core.data.files.caption_files`):

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
    quality: Literal["clean", "noisy"] | None = Field(
        None,
        description="what the source is, as you know it: curated, aligned captions (clean) or "
        "raw web alt-text (noisy); the study's data-quality comparison reads it (None: not "
        "declared, and such a variant is not chosen for it)",
    )

    @field_validator("path")
    @classmethod
    def _bounded_pattern(cls, path: str) -> str:
        names = pattern_size(path)
        if names > MAX_PATTERN_NAMES:
            raise ValueError(
                f"the pattern {path!r} names {names:,} files, more than {MAX_PATTERN_NAMES:,} "
                "(checked before it is expanded); fix its range, or split the source"
            )
        return path

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
        "diverse",
        description="one template per task and one wording per length instruction, or ≥ 10 "
        "paraphrases and several wordings (the same length instructions at the same rate)",
    )
    length_instruction_rate: float = Field(
        0.3, ge=0, le=1, description="share of prompts carrying a length instruction"
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
    `{image|video, instruction, answer}` format; see `lynx_core.data.files.training_files`). It is
    a task of the mixture under `task`; its media paths are relative to `media_root`."""

    path: LocalPath
    media_root: LocalPath | None = Field(None, description="None: the file's folder")
    format: Literal["auto", "llava", "simple"] = "auto"
    task: str | None = Field(None, description="its name in data.mixture; None = file stem")
    skip_missing_media: bool = Field(
        False, description="train without rows whose media are missing (each is reported)"
    )
    role: TaskRole | None = Field(
        None,
        description="what kind of data it is: vqa (short-answer questions), captioning, "
        "conversation or text_instruction; the study's balance of downstream (VQA) training "
        "reads it (None: not declared, counted as no role and said so)",
    )
    templates: bool = Field(
        False,
        exclude_if=lambda v: v is False,  # a file's stage key is what it was before the field
        description="re-phrase each single-turn example with the study's templates for its "
        "role (vqa: the question wrapped; captioning: the instruction replaced), in "
        "data.prompts.mode, with length instructions that match the answer at "
        "data.prompts.length_instruction_rate (lynx_core.data.files.file_prompts); False: "
        "train on the instruction as written",
    )

    @model_validator(mode="after")
    def _templates_of_its_role(self) -> TrainFileConfig:
        if self.templates and self.role not in ("vqa", "captioning"):
            raise ValueError(
                f"templates: true needs role vqa or captioning (the kinds the study's templates "
                f"phrase), not {self.role}; conversations and text-only instructions are "
                "trained as written"
            )
        return self

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
    # sized so that the evaluation items' own share of a difference's uncertainty stays small
    # beside the seeds' (one seed's difference known to ±3 points on images and ±5 on videos
    # at 50% accuracy with independent errors: ≥ 2135 and ≥ 769 questions; 384 images ask
    # about 2200, 528 clips about 780); the study's targets, minimum detectable effects of 4
    # and 8 points with seeds and items together, are `ablations.results.evidence.EVIDENCE`
    validation_examples: int = Field(
        96,
        gt=0,
        description="held-out examples a stage's validation loss is measured on (of the "
        "validation split, apart from training and test; `train.<stage>.validate_every`)",
    )
    validation_images: int = Field(
        96, gt=0, description="validation-split images asked Open-VQA questions (tuning)"
    )
    eval_images: int = Field(384, gt=0, description="held-out images (~5.7 questions each)")
    eval_videos: int = Field(528, ge=0, description="held-out clips (~1.3 questions each)")
    eval_mme_images: int = Field(40, ge=0, description="MME-form images per subtask")
    eval_pope_images: int = Field(
        96, ge=0, description="held-out images asked POPE-form probes (present and absent objects)"
    )

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
