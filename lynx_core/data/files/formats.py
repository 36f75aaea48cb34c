"""Readers for the data researchers bring: rows of JSON files (`.jsonl` lines, `.json` list
items), media paths and files, Open-VQA files, MME's release folder and OwlEval's question
file (training files: `lynx_core.data.files.training_files`).

Media paths are resolved inside a declared data root only: absolute paths and `..` that leave
it are rejected, and missing media are reported with file and line, all problems of a file at
once (`FormatError`), before any model is built.

- Open-VQA (../shared/paper/lynx_reference.md): one JSON object per line with `question`,
  `answer` (accepted answers), `class`, `index`, and `image` (or `video` for the video file),
  plus `dataset` / `origin_dataset`. A video is a clip file (decoded with PyAV) or a folder
  of frame images.
- OwlEval (`load_owleval`): one `{"question_id" (or "id"), "image", "question"}` per line.
- POPE (`load_pope`): one `{"question_id", "image", "text", "label": "yes"|"no"}` per line
  (its release names the files `coco_pope_<setting>.json`); a file, or a folder of them.
- MME release: `<root>/<subtask>/` holding either `images/` + `questions_answers_YN/` or
  images and `.txt` files side by side; each `.txt` has one `question<TAB>Yes|No` per line
  (two per image).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, ValidationError

from lynx_core.config import StrictModel
from lynx_core.data.files.json_array import JsonArrayError, array_items

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FormatError(ValueError):
    """Every problem of one data file, with its line or item."""

    def __init__(self, source: Path, problems: list[str]):
        self.source, self.problems = source, problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{listed}")

    def __reduce__(self):  # crosses back from a Ray worker whole, not as a TypeError
        return type(self), (self.source, self.problems)


class MissingMediaError(ValueError):
    """A media path inside the data root that does not exist (or holds no frames)."""


def resolve_media(root: Path, relative: str, frames_folder: bool = False) -> Path:
    """`root/relative`, refusing anything that leaves `root` (absolute paths, `..`).

    With `frames_folder` a video may also be a folder of frame images."""
    base = root.resolve()
    path = (base / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(base):
        raise ValueError(f"path {relative!r} leaves the data root {base}; give it relative to it")
    if frames_folder and path.is_dir():
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            raise MissingMediaError(
                f"{path} is a folder without frame images ({', '.join(IMAGE_SUFFIXES)})"
            )
        return path
    if not path.is_file():
        raise MissingMediaError(f"{path} does not exist or is not a file")
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
    return np.stack([decoded[i] for i in frame_picks(len(decoded), frames)])


def frame_picks(available: int, frames: int) -> list[int]:
    """Indices of `frames` frames spread evenly over a clip of `available` (first and last
    included; a short clip repeats frames, so every clip has the same length)."""
    return np.linspace(0, available - 1, num=frames).round().astype(int).tolist()


def json_rows(file: Path, limit: int | None = None) -> Iterator[tuple[str, object]]:
    """(where, parsed row or its JSON error) for a .jsonl file's lines or a .json file's
    list items, read one at a time; blank lines skipped. With `limit`, only the first
    `limit` rows are read (a bounded sample: validation of a file of millions of rows)."""
    for where, _, _, parsed in raw_rows(file, limit):
        yield where, parsed


def raw_rows(file: Path, limit: int | None = None) -> Iterator[tuple[str, int, int, object]]:
    """(where, byte offset, byte length, parsed row or its JSON error) of each row: a
    .jsonl file's non-blank lines, a .json file's list items (`lynx_core.data.files.json_array`:
    never the whole list in memory). A row is read again by its span (`read_row`)."""
    try:
        if file.suffix == ".json":
            for item in itertools.islice(array_items(file), limit):
                yield f"item {item.number} (line {item.line})", item.offset, item.length, item.value
            return
        with file.open("rb") as lines:
            offset, number = 0, 0
            for raw in lines:
                number, start, offset = number + 1, offset, offset + len(raw)
                if not raw.strip():
                    continue
                if limit is not None and limit <= 0:
                    return
                limit = None if limit is None else limit - 1
                yield f"line {number}", start, len(raw), _parsed(raw)
    except JsonArrayError as err:
        raise FormatError(file, [str(err)]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise FormatError(file, [f"cannot be read: {err}"]) from None


def read_row(file: Path, offset: int, length: int) -> object:
    """The row at a span `raw_rows` gave, parsed again."""
    with file.open("rb") as stream:
        stream.seek(offset)
        return _parsed(stream.read(length))


def json_object(row: object) -> dict:
    """A parsed row as a JSON object, or the reason it is not one."""
    if isinstance(row, json.JSONDecodeError | UnicodeDecodeError):
        raise ValueError(f"not valid JSON: {row}")
    if not isinstance(row, dict):
        raise ValueError(f"not a JSON object ({row!r})")
    return row


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
    for where, parsed in json_rows(file):
        try:
            row = json_object(parsed)
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
                problems.append(f"{where}, field {field!r}: {e['msg']}")
        except (ValueError, TypeError) as err:
            problems.append(f"{where}: {err}")
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


def _parsed(raw: bytes) -> object:
    """A row's JSON value, or the error that stops it being one (a row's problem, told
    with its line, not the file's)."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return err


class OwlEvalQuestion(StrictModel):
    id: str
    image: Path
    question: str


def load_owleval(file: Path, root: Path) -> list[OwlEvalQuestion]:
    """OwlEval's questions; images resolved under `root` (usually the file's folder)."""
    questions, problems = [], []
    for where, parsed in json_rows(file):
        try:
            row = json_object(parsed)
            ident = row.get("question_id", row.get("id"))
            if ident is None or not isinstance(row.get("question"), str) or "image" not in row:
                raise ValueError("needs 'question_id' (or 'id'), 'image' and 'question'")
            image = resolve_media(root, str(row["image"]))
            questions.append(OwlEvalQuestion(id=str(ident), image=image, question=row["question"]))
        except ValueError as err:
            problems.append(f"{where}: {err}")
    if problems:
        raise FormatError(file, problems)
    return questions


class PopeQuestion(StrictModel):
    id: str
    image: Path
    question: str
    label: Literal["yes", "no"]  # whether the object asked about is in the image
    setting: str  # how absent objects were drawn: the file's name (random, popular, …)


def pope_files(path: Path) -> list[Path]:
    """A POPE question file, or every `.json`/`.jsonl` file of a folder of them."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file())


def load_pope(path: Path, root: Path) -> list[PopeQuestion]:
    """POPE's yes/no probes about objects (half of them absent); images under `root`."""
    files = pope_files(path)
    if not files:
        raise FormatError(path, ["no .json or .jsonl question file in the POPE folder"])
    questions = []
    for file in files:
        problems = []
        for where, parsed in json_rows(file):
            try:
                row = json_object(parsed)
                label = str(row.get("label", "")).strip().lower()
                if label not in ("yes", "no") or not isinstance(row.get("text"), str):
                    raise ValueError("needs 'image', 'text' and 'label' (yes or no)")
                questions.append(
                    PopeQuestion(
                        id=str(row.get("question_id", where)),
                        image=resolve_media(root, str(row["image"])),
                        question=row["text"],
                        label=label,
                        setting=file.stem.removeprefix("coco_pope_"),
                    )
                )
            except (ValueError, KeyError) as err:
                problems.append(f"{where}: {err}")
        if problems:
            raise FormatError(file, problems)
    return questions
