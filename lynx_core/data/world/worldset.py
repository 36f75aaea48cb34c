"""The generated world on disk: HF `datasets` for training, real-format files for evaluation.

Every part is cached under `root/<part>-<hash>/`, the hash covering exactly what the part is
made from (world version, seed, size), so variants that need the same data share one copy and
concurrent trials never write half a part (`write_dir` renames a finished folder).

- training parts are HF datasets (`pixels` or `frames` as uint8 arrays, the scene as JSON);
- the evaluation suite is written in the formats real benchmarks ship in, and read back
  through `lynx_core.data.files.formats`, so the toy world exercises the real readers: Open-VQA
  image/video jsonl files (videos as folders of frames), an MME release folder (two yes/no
  questions per image), an OwlEval-style questions file and POPE-form probes about present
  and absent objects; beside them each evaluation image's description (its caption and
  where its shapes stand) and the words that name what it shows, so the
  bare LLM can be asked the same questions in words and answers can be checked for things
  the image does not show.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Array3D, Array4D, Dataset, Features, Value, load_from_disk
from PIL import Image
from tqdm.auto import tqdm

from lynx_core.atomic import write_dir
from lynx_core.config import DataConfig
from lynx_core.data.files.benchmarks import Benchmark, Benchmarks
from lynx_core.data.world import splits
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.prompts import MME_SUFFIX, held_out_prompt
from lynx_core.data.world.render import render, render_clip
from lynx_core.data.world.tasks import IMAGE_TASKS, MME_SUBTASKS, TASKS, VIDEO_TASKS

WORLD_VERSION = 8  # bump whenever rendering or tasks change, so no stale cache is reused
OPENVQA_IMAGE, OPENVQA_VIDEO = "openvqa/image.jsonl", "openvqa/video.jsonl"
DESCRIPTIONS = "openvqa/image_descriptions.jsonl"  # each image in words, for the bare LLM
MME_DIR, OWL_QUESTIONS, OWL_IMAGES = "mme", "owleval/questions.jsonl", "owleval/images"
POPE_DIR = "pope"  # POPE-form probes, one file per way of drawing absent objects
POPE_OBJECTS = (*tw.SHAPES, "sign")  # what a probe asks about
OWL_PROMPTS = (
    "describe the image in detail .",
    "write a story about the image .",
    "write an advert for the {noun} in the picture .",
)


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray  # (N, H, W, 3) uint8
    scenes: list[tw.Scene]


@dataclass(frozen=True)
class VideoSet:
    videos: np.ndarray  # (N, T, H, W, 3) uint8
    clips: list[tw.Clip]


def _cached(root: Path, part: str, params: dict, build: Callable[[Path], None]) -> Path:
    payload = json.dumps({"version": WORLD_VERSION, "part": part, **params}, sort_keys=True)
    path = root / f"{part}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
    if not path.exists():
        write_dir(path, build)
    return path


def _scene_from_json(text: str) -> tw.Scene:
    fields = json.loads(text)
    return tw.Scene(
        **{**fields, "slots": tuple(fields["slots"]), "offset": tuple(fields["offset"])}
    )


def _clip_from_json(text: str) -> tw.Clip:
    fields = json.loads(text)
    return tw.Clip(**{**fields, "colors": tuple(fields["colors"]), "start": tuple(fields["start"])})


def _dump(item) -> str:
    return json.dumps(dataclasses.asdict(item))


def _render_all(items, render, what: str) -> np.ndarray:
    return np.stack([render(i) for i in tqdm(items, desc=f"render {what}", leave=False)])


def image_set(root: Path, seed: int | str, n: int, stream: str) -> ImageSet:
    """`n` rendered scenes of stream `stream` (e.g. 'captions', 'tasks')."""
    size = tw.RENDER_SIZE

    def build(out: Path) -> None:
        scenes = tw.sample_scenes(seed, n, stream)
        features = Features({"pixels": Array3D((size, size, 3), "uint8"), "scene": Value("string")})
        data = {"pixels": _render_all(scenes, render, stream), "scene": list(map(_dump, scenes))}
        Dataset.from_dict(data, features=features).save_to_disk(out)

    path = _cached(root, f"images-{stream}", {"seed": seed, "n": n}, build)
    rows = load_from_disk(path).with_format("numpy")[:]
    return ImageSet(
        np.asarray(rows["pixels"], dtype=np.uint8), [_scene_from_json(s) for s in rows["scene"]]
    )


def video_set(root: Path, seed: int | str, n: int, stream: str) -> VideoSet:
    shape = (tw.FRAMES, tw.RENDER_SIZE, tw.RENDER_SIZE, 3)
    if n == 0:
        return VideoSet(np.zeros((0, *shape), np.uint8), [])

    def build(out: Path) -> None:
        clips = tw.sample_clips(seed, n, stream)
        features = Features({"frames": Array4D(shape, "uint8"), "clip": Value("string")})
        data = {
            "frames": _render_all(clips, render_clip, stream),
            "clip": list(map(_dump, clips)),
        }
        Dataset.from_dict(data, features=features).save_to_disk(out)

    path = _cached(root, f"videos-{stream}", {"seed": seed, "n": n}, build)
    rows = load_from_disk(path).with_format("numpy")[:]
    return VideoSet(
        np.asarray(rows["frames"], dtype=np.uint8), [_clip_from_json(c) for c in rows["clip"]]
    )


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _media_path(kind: str, i: int) -> str:
    """Where item `i` lies under openvqa/: a PNG, or a folder of frame PNGs for a video."""
    return f"images/{i:05d}.png" if kind == "image" else f"videos/{i:05d}"


def _openvqa_rows(
    items, tasks, media_key: str, rng: random.Random, balance: random.Random
) -> list[dict]:
    """Open-VQA rows asking `tasks` of each item with held-out wordings (`rng`), every yes/no
    class balanced (`balance`: which surplus questions go)."""
    rows = []
    for i, item in enumerate(items):
        for name in tasks:
            task = TASKS[name]
            example = task.example(i, item, held_out_prompt(task.paraphrases, rng), rng)
            if example is None:
                continue
            rows.append(
                {
                    "dataset": "lynx-toyworld",
                    "question": example.prompt,
                    "answer": list(example.accepted),
                    media_key: _media_path(media_key, i),
                    "origin_dataset": name,
                    "class": example.category,
                }
            )
    return balanced_yes_no(rows, balance)


def balanced_yes_no(rows: list[dict], rng: random.Random) -> list[dict]:
    """`rows` with as many 'yes' as 'no' questions in each yes/no class, as MME and POPE are
    balanced: the surplus answer's extra questions are dropped at random, the rest keep their
    order and are numbered again (`index`, which no reader relies on beyond being unique).

    A toy model that does not see motion answers 'is it moving?' from other cues, and seeds
    differ in how far their answers lean to 'yes'. Unbalanced, that lean alone moves the class's
    score, and with it video Overall, between seeds (the default test set has 231 moving and
    171 still clips: all 'yes' scores 57%, all 'no' 43%); balanced, a constant 'yes' or 'no'
    scores 50%, so the class measures what was seen, not which way a seed's answers lean."""
    positions: dict[str, dict[tuple, list[int]]] = {}  # class → answer → its rows
    for i, row in enumerate(rows):
        positions.setdefault(row["class"], {}).setdefault(tuple(row["answer"]), []).append(i)
    drop: set[int] = set()
    for by_answer in positions.values():
        if set(by_answer) != {("yes",), ("no",)}:
            continue
        fewer = min(len(rows_of) for rows_of in by_answer.values())
        surplus = max(by_answer.values(), key=len)
        drop |= set(rng.sample(surplus, len(surplus) - fewer))
    kept = [row for i, row in enumerate(rows) if i not in drop]
    return [{**row, "index": i} for i, row in enumerate(kept)]


def _mme_pairs(scene: tw.Scene, subtask: str, rng: random.Random) -> list[tuple[str, str]] | None:
    """Two yes/no questions about `scene` for an MME subtask, one true and one false."""
    other = lambda options, value: rng.choice([o for o in options if o != value])  # noqa: E731
    if subtask == "existence":
        wrong = other(tw.COLORS, scene.color)
        return [
            (f"is there a {scene.color} {scene.shape} in the image ?", "Yes"),
            (f"is there a {wrong} {scene.shape} in the image ?", "No"),
        ]
    if subtask == "count":
        wrong = other(tw.NUMBERS, tw.NUMBERS[scene.count - 1])
        return [
            (f"are there {tw.NUMBERS[scene.count - 1]} shapes in the image ?", "Yes"),
            (f"are there {wrong} shapes in the image ?", "No"),
        ]
    if subtask == "position":
        if scene.count != 1:
            return None
        wrong = other(tw.COLUMNS, scene.column)
        return [
            (f"is the {scene.shape} on the {scene.column} ?", "Yes"),
            (f"is the {scene.shape} on the {wrong} ?", "No"),
        ]
    if subtask == "color":
        wrong = other(tw.COLORS, scene.color)
        return [(f"are the shapes {scene.color} ?", "Yes"), (f"are the shapes {wrong} ?", "No")]
    if scene.word is None:  # OCR: the false word is the true one's look-alike
        return None
    twin = tw.WORDS[tw.WORDS.index(scene.word) ^ 1]
    return [(f"does the sign say {scene.word} ?", "Yes"), (f"does the sign say {twin} ?", "No")]


def _write_mme(out: Path, seed: int, per_subtask: int) -> None:
    rng = random.Random(f"mme-{seed}")
    scene_rng = random.Random(f"scenes-mme-{seed}")
    population = splits.STREAMS["mme"]
    for subtask in MME_SUBTASKS:
        written = 0
        while written < per_subtask:
            scene = tw.sample_scene(scene_rng, population)
            pairs = _mme_pairs(scene, subtask, rng)
            if pairs is None:
                continue
            rng.shuffle(pairs)
            stem = f"{written:04d}"
            _save_png(render(scene), out / subtask / "images" / f"{stem}.png")
            text = "".join(f"{q} {MME_SUFFIX}\t{a}\n" for q, a in pairs)
            answers = out / subtask / "questions_answers_YN" / f"{stem}.txt"
            answers.parent.mkdir(parents=True, exist_ok=True)
            answers.write_text(text)
            written += 1


def suite_benchmarks(suite: Path) -> Benchmarks:
    """The benchmarks of a folder in the generated suite's layout (any part may be missing):
    openvqa/image.jsonl and video.jsonl with their media under openvqa/, mme/,
    owleval/questions.jsonl with its images beside it, and pope/ (POPE files asking about
    openvqa/'s images)."""
    openvqa = suite / "openvqa"

    def part(relative: str, root: Path, folder: bool = False) -> Benchmark | None:
        path = suite / relative
        found = path.is_dir() and any(path.iterdir()) if folder else path.is_file()
        return Benchmark(path, root) if found else None

    descriptions = suite / DESCRIPTIONS
    return Benchmarks(
        openvqa_image=part(OPENVQA_IMAGE, openvqa),
        openvqa_video=part(OPENVQA_VIDEO, openvqa),
        mme=part(MME_DIR, suite / MME_DIR, folder=True),
        owleval=part(OWL_QUESTIONS, (suite / OWL_QUESTIONS).parent),
        pope=part(POPE_DIR, openvqa, folder=True),
        descriptions=descriptions if descriptions.is_file() else None,
    )


def validation_suite(root: Path, cfg: DataConfig) -> Path:
    """Open-VQA image questions about `cfg.validation_images` images of the validation split
    (apart from training and from the test): what a sweep's tuning chooses by, before any
    test question is read; returns their folder."""

    def build(out: Path) -> None:
        rng = random.Random(f"validation-{cfg.seed}")
        scenes = tw.sample_scenes(f"questions-{cfg.seed}", cfg.validation_images, "validation")
        for i, scene in enumerate(scenes):
            _save_png(render(scene), out / "openvqa" / _media_path("image", i))
        tasks = [t for t in IMAGE_TASKS if t != "caption"]
        balance = random.Random(f"balance-validation-{cfg.seed}")
        _write_jsonl(out / OPENVQA_IMAGE, _openvqa_rows(scenes, tasks, "image", rng, balance))

    return _cached(root, "validation", {"seed": cfg.seed, "images": cfg.validation_images}, build)


def eval_suite(root: Path, cfg: DataConfig) -> Path:
    """The held-out evaluation files (Open-VQA, MME, OwlEval and POPE forms); returns their
    folder.

    Questions use only held-out paraphrases, every image and clip is one of the test split's
    own pictures, and every image's description one of its own descriptions
    (`splits.STREAMS`), so no evaluation item was ever trained on, by pixels or in words.
    """
    stream = "eval"
    params = {
        "seed": cfg.seed,
        "images": cfg.eval_images,
        "videos": cfg.eval_videos,
        "mme": cfg.eval_mme_images,
        "pope": cfg.eval_pope_images,
    }

    def build(out: Path) -> None:
        rng = random.Random(f"{stream}-{cfg.seed}")
        scenes = tw.sample_scenes(cfg.seed, cfg.eval_images, stream)
        for i, scene in enumerate(tqdm(scenes, desc="eval images", leave=False)):
            _save_png(render(scene), out / "openvqa" / _media_path("image", i))
        tasks = [t for t in IMAGE_TASKS if t != "caption"]
        balance = random.Random(f"balance-{cfg.seed}")
        _write_jsonl(out / OPENVQA_IMAGE, _openvqa_rows(scenes, tasks, "image", rng, balance))
        described = [
            {
                "image": _media_path("image", i),
                "description": s.description(),
                "mentions": list(s.mentions()),
            }
            for i, s in enumerate(scenes)
        ]
        _write_jsonl(out / DESCRIPTIONS, described)
        clips = tw.sample_clips(cfg.seed, cfg.eval_videos, stream)
        for i, clip in enumerate(clips):
            for t, frame in enumerate(render_clip(clip)):
                _save_png(frame, out / "openvqa" / _media_path("video", i) / f"{t}.png")
        video_rows = _openvqa_rows(clips, VIDEO_TASKS, "video", rng, balance)
        _write_jsonl(out / OPENVQA_VIDEO, video_rows)
        _write_mme(out / MME_DIR, cfg.seed, cfg.eval_mme_images)
        _write_pope(
            out / POPE_DIR, scenes[: cfg.eval_pope_images], random.Random(f"pope-{cfg.seed}")
        )
        owl_images = range(min(10, len(scenes)))
        (out / OWL_IMAGES).mkdir(parents=True, exist_ok=True)
        for i in owl_images:  # OwlEval ships its images beside its question file
            shutil.copyfile(
                out / "openvqa" / _media_path("image", i), out / OWL_IMAGES / f"{i}.png"
            )
        owl = [
            {
                "question_id": f"{i}-{j}",
                "image": f"images/{i}.png",
                "question": prompt.format(noun=scenes[i].noun()),
            }
            for i in owl_images
            for j, prompt in enumerate(OWL_PROMPTS)
        ]
        _write_jsonl(out / OWL_QUESTIONS, owl)

    return _cached(root, "eval", params, build)


def _present_objects(scene: tw.Scene) -> list[str]:
    return [scene.shape, *(["sign"] if scene.word else [])]


def _write_pope(out: Path, scenes: list[tw.Scene], rng: random.Random) -> None:
    """POPE's two ways of drawing absent objects: at random, and the most frequent objects
    of the set ('popular', the harder); per image, as many absent as present probes."""
    frequency = Counter(o for scene in scenes for o in _present_objects(scene))
    popular = sorted(POPE_OBJECTS, key=lambda o: (-frequency[o], POPE_OBJECTS.index(o)))
    settings = {
        "random": lambda absent, k: rng.sample(absent, k),
        "popular": lambda absent, k: [o for o in popular if o in absent][:k],
    }
    for setting, draw in settings.items():
        rows = []
        for i, scene in enumerate(scenes):
            present = _present_objects(scene)
            absent = [o for o in POPE_OBJECTS if o not in present]
            probes = [(o, "yes") for o in present] + [(o, "no") for o in draw(absent, len(present))]
            for thing, label in probes:
                rows.append(
                    {
                        "question_id": len(rows),
                        "image": _media_path("image", i),
                        "text": f"is there a {thing} in the image ?",
                        "label": label,
                    }
                )
        _write_jsonl(out / f"{setting}.jsonl", rows)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
