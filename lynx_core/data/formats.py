"""Readers for the evaluation data researchers bring: Open-VQA files and MME's release folder.

Media paths are resolved inside a declared data root only: absolute paths and `..` that leave
it are rejected, and missing media are reported with file and line, all problems of a file at
once (`FormatError`), before any model is built.

- Open-VQA (../shared/paper/lynx_reference.md): one JSON object per line with `question`,
  `answer` (accepted answers), `class`, `index`, and `image` (or `video` for the video file),
  plus `dataset` / `origin_dataset`. A video is a clip file (decoded with PyAV) or a folder
  of frame images.
- MME release: `<root>/<subtask>/` holding either `images/` + `questions_answers_YN/` or
  images and `.txt` files side by side; each `.txt` has one `question<TAB>Yes|No` per line
  (two per image).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, ValidationError

from lynx_core.config import StrictModel

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FormatError(ValueError):
    def __init__(self, source: Path, problems: list[str]):
        self.source, self.problems = source, problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{listed}")


def resolve_media(root: Path, relative: str, frames_folder: bool = False) -> Path:
    """`root/relative`, refusing anything that leaves `root` (absolute paths, `..`).

    With `frames_folder` a video may also be a folder of frame images."""
    base = root.resolve()
    path = (base / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(base):
        raise ValueError(f"path {relative!r} leaves the data root {base}; give it relative to it")
    if frames_folder and path.is_dir():
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            raise ValueError(
                f"{path} is a folder without frame images ({', '.join(IMAGE_SUFFIXES)})"
            )
        return path
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file")
    return path


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))


def read_video(path: Path, frames: int) -> np.ndarray:
    """(frames, H, W, 3) uint8, sampled evenly over the clip (a short clip repeats frames, so
    every clip has the same length): a folder of frame images (in natural order of their
    names) or a video file decoded with PyAV."""
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: (len(p.stem), p.stem),
        )
        decoded = [read_image(f) for f in files]
    else:
        try:
            import av
        except ImportError as err:
            raise ImportError(
                f"{path}: decoding video files needs PyAV (pip install av), or give the clip "
                "as a folder of frame images"
            ) from err
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not decoded:
        raise ValueError(f"{path}: no frames")
    picks = np.linspace(0, len(decoded) - 1, num=frames).round().astype(int)  # short: repeats
    return np.stack([decoded[i] for i in picks])


class OpenVQAItem(StrictModel):
    question: str
    answer: list[str] = Field(min_length=1)
    category: str = Field(alias="class")
    index: int | str
    media: Path
    kind: Literal["image", "video"]
    dataset: str = ""
    origin_dataset: str = ""


def load_openvqa(file: Path, root: Path) -> list[OpenVQAItem]:
    """Items of an Open-VQA image or video file; media resolved under `root`."""
    items, problems = [], []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            kind = "video" if "video" in row else "image"
            if kind not in row:
                raise ValueError("needs an 'image' or a 'video' field")
            media = resolve_media(root, row[kind], frames_folder=kind == "video")
            fields = {k: v for k, v in row.items() if k not in ("image", "video")}
            if isinstance(fields.get("answer"), str):
                fields["answer"] = [fields["answer"]]
            items.append(OpenVQAItem.model_validate({**fields, "media": media, "kind": kind}))
        except ValidationError as err:
            for e in err.errors():
                field = ".".join(map(str, e["loc"]))
                problems.append(f"line {number}, field {field!r}: {e['msg']}")
        except (ValueError, TypeError) as err:
            problems.append(f"line {number}: {err}")
    if problems:
        raise FormatError(file, problems)
    return items


class MMEQuestion(StrictModel):
    subtask: str
    image: Path
    question: str
    answer: Literal["Yes", "No"]


def load_mme(root: Path) -> list[MMEQuestion]:
    """Every question of an MME release folder, two per image, in a stable order."""
    questions, problems = [], []
    subtasks = sorted(p for p in root.iterdir() if p.is_dir())
    if not subtasks:
        raise FormatError(root, ["no subtask folders (e.g. existence/, OCR/) in the MME root"])
    for folder in subtasks:
        texts = folder / "questions_answers_YN"
        images = folder / "images"
        text_dir, image_dir = (texts, images) if texts.is_dir() else (folder, folder)
        for text in sorted(text_dir.glob("*.txt")):
            image = next(
                (
                    image_dir / f"{text.stem}{s}"
                    for s in IMAGE_SUFFIXES
                    if (image_dir / f"{text.stem}{s}").is_file()
                ),
                None,
            )
            if image is None:
                problems.append(f"{text}: no image named {text.stem}.* in {image_dir}")
                continue
            lines = [line for line in text.read_text().splitlines() if line.strip()]
            if len(lines) != 2:
                problems.append(f"{text}: {len(lines)} questions; MME has two per image")
            for number, line in enumerate(lines, start=1):
                question, _, answer = line.rpartition("\t")
                if answer.strip() not in ("Yes", "No") or not question:
                    problems.append(f"{text}, line {number}: expected 'question<TAB>Yes|No'")
                    continue
                questions.append(
                    MMEQuestion(
                        subtask=folder.name,
                        image=image,
                        question=question.strip(),
                        answer=answer.strip(),
                    )
                )
    if problems:
        raise FormatError(root, problems)
    return questions
