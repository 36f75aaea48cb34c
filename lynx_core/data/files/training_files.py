"""Training files of the user's own for stage 2: LLaVA conversations (`{"id", "image" |
"video" (optional), "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from":
"gpt", "value": ...}, ...]}`, every human/gpt pair an example, earlier turns its history) or
the simple `{"image" | "video" (optional), "instruction", "answer"}`, as `.jsonl` lines or
the items of a `.json` list.

Validation reads a bounded sample (`check_training_file`); a stage locates every example
once per version of the file (`TrainingIndex`, 17 bytes an example) and reads a row again
when a batch asks for it. Missing media stop the run unless the user allows skipping them
(`skip_missing_media`), in which case each skipped row is reported.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from lynx_core.config import StrictModel, TrainFileConfig
from lynx_core.data.dialogue import Turn
from lynx_core.data.files.computed import cache_file, computed_once
from lynx_core.data.files.formats import (
    FormatError,
    MissingMediaError,
    json_object,
    raw_rows,
    read_row,
    resolve_media,
)
from lynx_core.digests import digest_files

log = logging.getLogger(__name__)
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
    skipped: list[str] = []
    rows = _training_rows(file, root, fmt, skip_missing_media, limit, skipped)
    items = [
        item
        for where, _, _, kind, media, turns in rows
        for item in _items(kind, media, turns, f"{file}:{where}")
    ]
    return items, skipped


Turns = list[tuple[tuple[Turn, ...], str, str]]


def _training_rows(
    file: Path,
    root: Path,
    fmt: TrainingFormat,
    skip_missing_media: bool,
    limit: int | None = None,
    skipped: list[str] | None = None,
) -> Iterator[tuple[str, int, int, MediaKind, Path | None, Turns]]:
    """(where, byte offset, byte length, kind, media, turns) of each sound row (`limit`: of
    the first rows only); a row whose media are missing is left out under
    `skip_missing_media` (told in `skipped`), and every other problem of the rows read is
    raised at once after the last (`FormatError`)."""
    problems = []
    for where, offset, length, parsed in raw_rows(file, limit):
        try:
            kind, media, turns = _training_row(parsed, fmt, root)
        except MissingMediaError as err:
            if not skip_missing_media:
                problems.append(f"{where}: {err}")
            elif skipped is not None:
                skipped.append(f"{file}: {where}: {err}")
            continue
        except ValueError as err:
            problems.append(f"{where}: {err}")
            continue
        yield where, offset, length, kind, media, turns
    _raise_problems(file, problems)


def _training_row(
    parsed: object, fmt: TrainingFormat, root: Path
) -> tuple[MediaKind, Path | None, Turns]:
    """(kind, media path, turns) of a parsed row; raises ValueError (MissingMediaError for
    media that are not there) with what is wrong."""
    row = json_object(parsed)
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
    records = [
        (offset, length, turn, KINDS.index(kind))
        for _, offset, length, kind, _, turns in _training_rows(file, root, fmt, skip_missing_media)
        for turn in range(len(turns))
    ]
    return np.array(records, dtype=INDEX_RECORD)


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
