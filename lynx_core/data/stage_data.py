"""What each stage trains on, built from the world, the tasks and the prompts.

- bases: plain world sentences (the toy "LLaMA"), then dialogue-format instructions with the
  scene described in words where a Lynx prefix later puts visual tokens, plus text-only
  instructions (the toy "Vicuna"), and image–caption pairs for CLIP-pretraining the tower;
- stage 1: image–caption pairs (clean or noisy, optionally quality-filtered);
- stage 2: one pool of examples per trained task, and per kind of media in each of the
  user's training files, mixed by `lynx_core.data.mixture`.

Pure functions of their inputs (seeds included), so every trial rebuilds the same examples.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from lynx_core.config import DataConfig, PromptConfig
from lynx_core.data.dialogue import TEMPLATES, DialogueTemplate
from lynx_core.data.examples import Example
from lynx_core.data.files.caption_files import CaptionFile
from lynx_core.data.files.file_prompts import FileTemplates
from lynx_core.data.files.training_files import KINDS, MediaKind, TrainingIndex
from lynx_core.data.world import splits
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.prompts import LENGTH_INSTRUCTIONS, MME_SUFFIX, training_prompt
from lynx_core.data.world.tasks import TASKS
from lynx_core.data.world.worldset import OWL_PROMPTS, ImageSet, VideoSet

CAPTION_PROMPT = TASKS["caption"].paraphrases[0]  # stage 1 asks for captions one way
_SLOT = re.compile(r"\{\w+\}")


def passes_quality_filter(caption: str) -> bool:
    """A cheap web-caption filter: at least 3 words and no stock-photo filler words."""
    words = caption.split()
    return len(words) >= 3 and not set(words) & set(tw.FILLER)


def vocabulary(template: DialogueTemplate = TEMPLATES["lynx"]) -> list[str]:
    """Every token the world, its tasks and prompts can produce, plus the words of the
    dialogue `template` (its end-of-answer mark is the tokenizer's own special token)."""
    texts = [template.system, template.ask.format(question=""), MME_SUFFIX, *OWL_PROMPTS]
    texts += tw.FILLER
    texts += [p for t in TASKS.values() for p in t.paraphrases]
    texts += [i for kind in LENGTH_INSTRUCTIONS.values() for i in kind]
    texts += [*tw.COLORS, *tw.SHAPES, *map(tw.plural, tw.SHAPES), *tw.NUMBERS, *tw.COLUMNS]
    texts += [*tw.PLACES, *tw.WORDS, *tw.DIRECTIONS, *tw.ROWS]
    rng = random.Random(0)  # answers and captions: sample enough facts to see every form
    for _ in range(400):
        scene, clip = tw.sample_scene(rng, splits.TEXT), tw.sample_clip(rng)
        texts += [scene.description(), clip.caption(), *tw.world_text(rng.randrange(9), 1)]
        for task in TASKS.values():
            item = clip if task.media == "video" else scene
            fact = task.fact(item, rng)
            if fact is not None:
                texts += [fact.long, *fact.slots.values()]
    return sorted(tw.words_of(_SLOT.sub(" ", t) for t in texts))


def task_examples(
    task: str, items: list, cfg: PromptConfig, seed: int | str, context: bool = False
) -> list[Example]:
    """One example per item the task applies to; `context` puts the item's description
    before the user turn (bases instruction tuning: the words stand where visual tokens
    will)."""
    rng = random.Random(f"{task}-{seed}")
    spec = TASKS[task]
    examples = []
    for i, item in enumerate(items):
        example = spec.example(i, item, training_prompt(spec.paraphrases, cfg, rng), rng)
        if example is None:
            continue
        if context and item is not None:
            example = replace(example, context=f"{item.description()} .")
        examples.append(example)
    return examples


def caption_examples(
    images: ImageSet, cfg: DataConfig, seed: int | str | None = None
) -> list[Example]:
    """Stage 1: one caption per image, clean or noisy as configured (`seed` draws the
    noise; default: the world's)."""
    quality = cfg.captions
    texts = tw.captions(images.scenes, quality.quality, cfg.seed if seed is None else seed)
    return [
        Example(i, "image", CAPTION_PROMPT, text, "Caption", "caption")
        for i, text in enumerate(texts)
        if not quality.quality_filter or passes_quality_filter(text)
    ]


class CaptionFileExamples(Sequence[Example]):
    """A caption file's pairs as stage-1 examples, made when a batch asks for them (a file
    may hold millions); `example.media` is the pair's index in the file."""

    def __init__(self, source: CaptionFile, name: str):
        self.source, self.name = source, name

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index):  # a Sequence's: an int (a slice is not needed here)
        if not isinstance(index, int) or not 0 <= index < len(self.source):
            raise IndexError(index)
        caption = self.source.caption(index)
        return Example(index, "image", CAPTION_PROMPT, caption, "Caption", self.name)


def stage2_pools(
    images: ImageSet, videos: VideoSet, cfg: DataConfig, seed: int | str | None = None
) -> dict[str, list[Example]]:
    """Examples per trained task (the held-out task and ratio-0 tasks left out); `seed`
    draws their prompts (default: the world's)."""
    pools = {}
    items = {"image": images.scenes, "video": videos.clips, "text": [None] * cfg.text_examples}
    for name, task in TASKS.items():
        if name == cfg.prompts.held_out_task or cfg.mixture.get(name, 0) <= 0:
            continue
        drawn = cfg.seed if seed is None else seed
        examples = task_examples(name, items[task.media], cfg.prompts, drawn)
        if examples:
            pools[name] = examples
    return pools


class FilePool(Sequence[Example]):
    """The examples of one media kind in a user's training file, made when a batch asks for
    them (a file may hold millions); `example.media` is the example's row here, and
    `media_path(row)` its image or video."""

    def __init__(
        self,
        index: TrainingIndex,
        kind: MediaKind,
        task: str,
        templates: FileTemplates | None = None,
    ):
        self.index, self.kind, self.task, self.templates = index, kind, task, templates
        self.rows = index.rows_of(kind)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, row):  # a Sequence's: an int (a slice is not needed here)
        if not isinstance(row, int) or not 0 <= row < len(self.rows):
            raise IndexError(row)
        item = self.index.item(int(self.rows[row]))
        prompt = item.prompt
        if self.templates is not None and not item.history and self.kind != "text":
            prompt = self.templates.phrase(prompt, item.answer, self.kind, self.key(row))
        return Example(
            row, self.kind, prompt, item.answer, "Others", self.task, history=item.history
        )

    def media_path(self, row: int) -> Path | None:
        return self.index.item(int(self.rows[row])).media

    def key(self, row: int) -> str:
        """Where the example is in its file: `@<byte offset of its row>#<turn>`."""
        example = int(self.rows[row])
        return f"@{self.index.offsets[example]}#{self.index.turns[example]}"


def file_pools(
    cfg: DataConfig, cache: Path | None = None, seed: int | str | None = None
) -> dict[str, tuple[float, FilePool]]:
    """(mixture ratio, pool) per kind of media in each configured training file, named
    `<task>/<kind>`; a file's ratio is split over its kinds by their share of its examples,
    so a batch holds one kind of media and the file is still sampled at its ratio. `cache`
    (the store's) keeps each file's index once per version of it; `seed` draws the prompts of
    a file with `templates` (default: the world's)."""
    pools: dict[str, tuple[float, FilePool]] = {}
    for file in cfg.train_files:
        ratio = cfg.mixture.get(file.task_name, 0.0)
        if ratio <= 0:
            continue
        # skipped rows were reported at validation
        index = TrainingIndex(file.path, file.root, file.format, file.skip_missing_media, cache)
        drawn = cfg.seed if seed is None else seed
        phrased = FileTemplates(file.role, cfg.prompts, drawn) if file.templates else None
        for kind in KINDS:
            pool = FilePool(index, kind, file.task_name, phrased)
            if len(pool):
                pools[f"{file.task_name}/{kind}"] = (ratio * len(pool) / len(index), pool)
    return pools


def instruct_corpus(seed: int, n: int, held_out_task: str | None = None) -> list[Example]:
    """The toy Vicuna's instruction data: dialogues about described scenes and clips (every
    task but the one evaluation holds out, diverse prompts) and text-only instructions; no
    pixels, and only training descriptions of scenes (`splits.TEXT`) and training clips."""
    rng = random.Random(f"instruct-{seed}")
    scenes = [tw.sample_scene(rng, splits.STREAMS["instruct"]) for _ in range(n)]
    clips = [tw.sample_clip(rng, splits.STREAMS["instruct"]) for _ in range(n // 4)]
    prompts = PromptConfig(held_out_task=held_out_task)
    corpus: list[Example] = []
    items = {"image": scenes, "video": clips, "text": [None] * (n // 4)}
    for name, task in TASKS.items():
        if name != held_out_task:
            corpus += task_examples(name, items[task.media], prompts, seed, context=True)
    return corpus


def validation_examples(
    stage: str, images: ImageSet, videos: VideoSet, cfg: DataConfig
) -> list[Example]:
    """`cfg.validation_examples` held-out examples of the validation split, the same for
    every variant of a world whatever it trains on: stage 1's clean captions of validation
    images; stage 2's questions of every world task but the held-out one, in turn, phrased as
    training phrases them (diverse prompts), so its loss measures what training learned."""
    n = cfg.validation_examples
    if stage == "stage1":
        return [
            Example(i, "image", CAPTION_PROMPT, scene.caption(), "Caption", "caption")
            for i, scene in enumerate(images.scenes[:n])
        ]
    prompts = PromptConfig(held_out_task=cfg.prompts.held_out_task)
    items = {"image": images.scenes, "video": videos.clips, "text": [None] * n}
    pools = [
        task_examples(name, items[task.media], prompts, f"validation-{cfg.seed}")
        for name, task in TASKS.items()
        if name != cfg.prompts.held_out_task
    ]
    rounds = max(map(len, pools), default=0)
    turns = [pool[r] for r in range(rounds) for pool in pools if r < len(pool)]
    return turns[:n]


def sample_seed(cfg: DataConfig, seed: int) -> str:
    """What a training run's examples are drawn with: the world's seed and the run's own, so
    each seed of a variant trains on its own sample of the world (paired seeds of two
    variants on the same one)."""
    return f"{cfg.seed}.{seed}"
