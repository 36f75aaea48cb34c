"""Readers for the data researchers bring: training conversations (LLaVA's format and a simple
one), Open-VQA files, MME's release folder and OwlEval's question file.

Media paths are resolved inside a declared data root only: absolute paths and `..` that leave
it are rejected, and missing media are reported with file and line, all problems of a file at
once (`FormatError`), before any model is built.

- Open-VQA (../shared/paper/lynx_reference.md): one JSON object per line with `question`,
  `answer` (accepted answers), `class`, `index`, and `image` (or `video` for the video file),
  plus `dataset` / `origin_dataset`. A video is a clip file (decoded with PyAV) or a folder
  of frame images.
- Training (`load_training_file`), `.jsonl` (one object per line) or `.json` (a list):
  LLaVA conversations `{"id", "image" | "video" (optional), "conversations": [{"from":
  "human", "value": "<image>\\n..."}, {"from": "gpt", "value": ...}, ...]}` (every human/gpt
  pair is an example, earlier turns its context), or the simple `{"image" | "video"
  (optional), "instruction", "answer"}`. Missing media stop the run unless the user allows
  skipping them (`skip_missing_media`), in which case each skipped row is reported.
- OwlEval (`load_owleval`): one `{"question_id" (or "id"), "image", "question"}` per line.
- MME release: `<root>/<subtask>/` holding either `images/` + `questions_answers_YN/` or
  images and `.txt` files side by side; each `.txt` has one `question<TAB>Yes|No` per line
  (two per image).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, ValidationError

from lynx_core.config import StrictModel, TrainFileConfig
from lynx_core.data.computed import cache_file, computed_once
from lynx_core.data.dialogue import Turn
from lynx_core.data.json_array import JsonArrayError, array_items
from lynx_core.digests import digest_files

log = logging.getLogger(__name__)

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
    .jsonl file's non-blank lines, a .json file's list items (`lynx_core.data.json_array`:
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


def _object(row: object) -> dict:
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
            row = _object(parsed)
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


MediaKind = Literal["image", "video", "text"]
TrainingFormat = Literal["auto", "llava", "simple"]
_PLACEHOLDERS = ("<image>", "<video>")


class TrainingItem(StrictModel):
    """One instruction-following example from a user's training file."""

    kind: MediaKind
    media: Path | None
    prompt: str
    answer: str
    history: tuple[Turn, ...] = ()  # earlier turns of its conversation, (question, answer)
    source: str  # "file:line", for error messages


def _clean(text: str) -> str:
    for token in _PLACEHOLDERS:
        text = text.replace(token, "")
    return text.strip()


def _llava_turns(row: dict) -> list[tuple[tuple[Turn, ...], str, str]]:
    """(earlier turns, question, answer) per human/gpt pair of a LLaVA conversation; the
    template that writes them is the LLM's (`lynx_core.data.dialogue`), applied at collate."""
    turns = row.get("conversations")
    if (
        not isinstance(turns, list)
        or not turns
        or len(turns) % 2
        or not all(isinstance(t, dict) for t in turns)
    ):
        raise ValueError("'conversations' must be a non-empty list of human/gpt pairs")
    out, history = [], ()
    for human, gpt in zip(turns[::2], turns[1::2], strict=True):
        if (human.get("from"), gpt.get("from")) != ("human", "gpt"):
            raise ValueError("'conversations' must alternate 'from': 'human' then 'gpt'")
        question, answer = _clean(str(human.get("value", ""))), str(gpt.get("value", "")).strip()
        out.append((history, question, answer))
        history = (*history, (question, answer))
    return out


def _simple_turns(row: dict) -> list[tuple[tuple[Turn, ...], str, str]]:
    missing = [k for k in ("instruction", "answer") if not isinstance(row.get(k), str)]
    if missing:
        raise ValueError(f"needs text fields 'instruction' and 'answer' (missing: {missing})")
    return [((), _clean(row["instruction"]), row["answer"].strip())]


def load_training_file(
    file: Path,
    root: Path,
    fmt: TrainingFormat = "auto",
    skip_missing_media: bool = False,
    limit: int | None = None,
) -> tuple[list[TrainingItem], list[str]]:
    """(examples, skipped rows with why). Every problem of the file is reported at once;
    `limit` reads only the first rows of the file (see `raw_rows`).

    Paths that leave `root` are always errors (a configuration mistake, not missing data)."""
    items, problems, skipped = [], [], []
    for where, parsed in json_rows(file, limit):
        try:
            kind, media, turns = _training_row(parsed, fmt, root)
        except MissingMediaError as err:
            (skipped if skip_missing_media else problems).append(f"{where}: {err}")
            continue
        except ValueError as err:
            problems.append(f"{where}: {err}")
            continue
        items += _items(kind, media, turns, f"{file}:{where}")
    _raise_problems(file, problems)
    return items, [f"{file}: {why}" for why in skipped]


Turns = list[tuple[tuple[Turn, ...], str, str]]


def _training_row(
    parsed: object, fmt: TrainingFormat, root: Path
) -> tuple[MediaKind, Path | None, Turns]:
    """(kind, media path, turns) of a parsed row; raises ValueError (MissingMediaError for
    media that are not there) with what is wrong."""
    row = _object(parsed)
    style = fmt if fmt != "auto" else "llava" if "conversations" in row else "simple"
    turns = (_llava_turns if style == "llava" else _simple_turns)(row)
    kind: MediaKind = next((k for k in ("image", "video") if row.get(k)), "text")
    media = None
    if kind != "text":
        media = resolve_media(root, str(row[kind]), frames_folder=kind == "video")
    return kind, media, turns


def _items(kind: MediaKind, media: Path | None, turns: Turns, source: str) -> list[TrainingItem]:
    return [
        TrainingItem(
            kind=kind, media=media, prompt=question, answer=answer, history=history, source=source
        )
        for history, question, answer in turns
    ]


def _raise_problems(file: Path, problems: list[str]) -> None:
    if problems:
        if any("does not exist" in p for p in problems):
            problems.append("(or set skip_missing_media: true to train without those rows)")
        raise FormatError(file, problems)


KINDS: tuple[MediaKind, ...] = ("image", "video", "text")


class TrainingIndex:
    """A training file's examples located, not loaded: each example's row span, turn and
    kind (17 bytes an example; the row is read and parsed again when a batch asks for the
    example), for a .jsonl file's lines and a .json file's list items alike. Indexing reads
    every row once, as validation of the whole file; with `cache` (the store's) it happens
    once per version of the file, and the index is memory-mapped (a node's ranks share it).
    Media are checked when indexed: one removed later is named when a batch reads it."""

    def __init__(
        self,
        file: Path,
        root: Path,
        fmt: TrainingFormat,
        skip_missing_media: bool,
        cache: Path | None = None,
    ):
        self.file, self.root, self.fmt = file, root, fmt
        depends_on = (str(file.resolve()), digest_files(file), str(root.resolve()), fmt)
        records = computed_once(
            cache_file(cache, "training_index", *depends_on, skip_missing_media, INDEX_VERSION),
            functools.partial(_index_records, file, root, fmt, skip_missing_media),
            mmap=True,
        )
        self.offsets, self.lengths = records["offset"], records["length"]
        self.turns, self.kinds = records["turn"], records["kind"]

    def __len__(self) -> int:
        return len(self.kinds)

    def rows_of(self, kind: MediaKind) -> np.ndarray:
        return np.flatnonzero(self.kinds == KINDS.index(kind))

    def item(self, index: int) -> TrainingItem:
        parsed = read_row(self.file, int(self.offsets[index]), int(self.lengths[index]))
        kind, media, turns = _training_row(parsed, self.fmt, self.root)
        return _items(kind, media, turns, f"{self.file}")[int(self.turns[index])]


INDEX_VERSION = 1  # bumped when indexing changes what it finds
INDEX_RECORD = np.dtype([("offset", "<i8"), ("length", "<i4"), ("turn", "<i4"), ("kind", "i1")])


def _index_records(
    file: Path, root: Path, fmt: TrainingFormat, skip_missing_media: bool
) -> np.ndarray:
    """One record per example of the file (`INDEX_RECORD`); every problem raised at once."""
    records, problems = [], []
    for where, offset, length, parsed in raw_rows(file):
        try:
            kind, _, row_turns = _training_row(parsed, fmt, root)
        except MissingMediaError as err:
            if not skip_missing_media:
                problems.append(f"{where}: {err}")
            continue
        except ValueError as err:
            problems.append(f"{where}: {err}")
            continue
        records += [(offset, length, turn, KINDS.index(kind)) for turn in range(len(row_turns))]
    _raise_problems(file, problems)
    return np.array(records, dtype=INDEX_RECORD)


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
            row = _object(parsed)
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


def check_training_file(cfg: TrainFileConfig) -> int:
    """Validate a configured training file (raises `FormatError`): its first `CHECKED_ROWS`
    rows (lines of a .jsonl file, items of a .json list), each row's fields and media path,
    and the first `MEDIA_SAMPLE` images opened; the number of examples checked. Rows past
    the sample are checked when the stage loads the file.

    Checked once per file version: a sweep validates the same file for every variant."""
    if not cfg.path.is_file():  # a folder, a device such as /dev/zero
        raise FormatError(cfg.path, ["not a regular file: give a .jsonl or .json training file"])
    stat = cfg.path.stat()
    return _check_cached(cfg, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _check_cached(cfg: TrainFileConfig, mtime_ns: int, size: int) -> int:
    items, skipped = load_training_file(
        cfg.path, cfg.root, cfg.format, cfg.skip_missing_media, limit=CHECKED_ROWS
    )
    for why in skipped:
        log.warning("skipping (skip_missing_media): %s", why)
    if not items:
        raise FormatError(cfg.path, ["holds no examples (an empty file trains nothing)"])
    problems = [
        f"{item.source}: {item.media} {why}"
        for item in _media_sample(items)
        if (why := _not_an_image(item.media)) is not None
    ]
    if problems:
        raise FormatError(cfg.path, problems)
    return len(items)


MEDIA_SAMPLE = 16  # images opened at validation: a wrong folder shows in the first few
CHECKED_ROWS = 50_000  # rows of a .jsonl file checked at validation: seconds, not minutes


def _media_sample(items: list[TrainingItem]) -> list[TrainingItem]:
    """The first `MEDIA_SAMPLE` distinct image files (video frames are read by their loader)."""
    chosen: dict[Path, TrainingItem] = {}
    for item in items:
        if item.kind == "image" and item.media is not None and item.media.is_file():
            chosen.setdefault(item.media, item)
            if len(chosen) == MEDIA_SAMPLE:
                break
    return list(chosen.values())


def _not_an_image(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as err:  # PIL raises many kinds for a file that is not an image
        return f"is not an image PIL can read ({type(err).__name__})"
    return None
