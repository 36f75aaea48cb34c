"""Readers for the evaluation data researchers bring: Open-VQA files and MME's release folder.

Media paths are resolved inside a declared data root only: absolute paths and `..` that leave
it are rejected, and missing media are reported with file and line, all problems of a file at
once (`FormatError`), before any model is built.

- Open-VQA (../shared/paper/lynx_reference.md): one JSON object per line with `question`,
  `answer` (accepted answers), `class`, `index`, and `image` (or `video` for the video file),
  plus `dataset` / `origin_dataset`.
- MME release: `<root>/<subtask>/` holding either `images/` + `questions_answers_YN/` or
  images and `.txt` files side by side; each `.txt` has one `question<TAB>Yes|No` per line
  (two per image).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from lynx_core.config import StrictModel

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FormatError(ValueError):
    def __init__(self, source: Path, problems: list[str]):
        self.source, self.problems = source, problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{listed}")


def resolve_media(root: Path, relative: str) -> Path:
    """`root/relative`, refusing anything that leaves `root` (absolute paths, `..`)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(base):
        raise ValueError(f"path {relative!r} leaves the data root {base}; give it relative to it")
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file")
    return path


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
            media = resolve_media(root, row[kind])
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
