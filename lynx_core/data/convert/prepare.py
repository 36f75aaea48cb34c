"""Preparing a released dataset as a stage-2 training file, once, ahead of a sweep.

A converter (`lynx_core.data.convert.sources.CONVERTERS`) reads a release as its authors
distribute it and yields, row by row, either an `Example` (media, the question or instruction
as released, the answer) or a `Skip` (a row that is sound but cannot train: no answer, an
answer its annotators did not agree on, a question whose image the release does not list).
`prepare` writes the examples as the simple training format (`{"image" | "video",
"instruction", "answer", "source"}` lines: `lynx_core.data.files.training_files`), counts
the skipped rows by reason with the first few named, and writes a manifest beside it.

Streaming throughout: rows are read with `lynx_core.data.files.json_array` (never a whole
list in memory) and the joins a release needs (captions to image files, answers to
questions) go through an SQLite table on disk (`Scratch`), so memory does not grow with the
release. A malformed release (not the JSON its format says, a row without a field the
format requires) is refused with its file and line (`ConvertError`), and nothing is written.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lynx_core.atomic import write_json, write_with
from lynx_core.data.files.formats import FormatError, json_rows
from lynx_core.data.files.json_array import JsonArrayError, array_items, object_members

Role = Literal["captioning", "vqa", "conversation", "text_instruction"]
NAMED_SKIPS = 5  # the skipped rows a manifest names per reason
MAX_PROBLEMS = 20  # a malformed release's problems told before giving up


@dataclass(frozen=True)
class Example:
    instruction: str
    answer: str
    source: str  # "file:line" (or the row's id) in the release
    image: str | None = None  # relative to the release's media folder
    video: str | None = None
    conversations: list | None = None  # a LLaVA conversation, kept whole (then no Q/A)

    def row(self) -> dict[str, object]:
        media = {"image": self.image} if self.image else {"video": self.video} if self.video else {}
        if self.conversations is not None:
            return {**media, "conversations": self.conversations, "source": self.source}
        return {
            **media,
            "instruction": self.instruction,
            "answer": self.answer,
            "source": self.source,
        }


@dataclass(frozen=True)
class Skip:
    reason: str
    source: str


class ConvertError(ValueError):
    """A release that is not what its format says, with every problem's file and line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s), nothing was written:\n{shown}")


@dataclass(frozen=True)
class Converter:
    """One released dataset's family: what it is, which files of the release it reads (paths
    relative to the release folder), where the media lie by convention, and how its rows
    become examples."""

    name: str
    role: Role
    released_as: str  # the format and where it is published
    license: str
    files: tuple[str, ...]
    media: str  # the media folder, relative to the release folder
    read: Callable[[Release], Iterator[Example | Skip]]


@dataclass
class Release:
    """A release folder being read: its files by name, and where malformed rows are told."""

    folder: Path
    files: dict[str, Path]
    problems: list[str] = field(default_factory=list)

    def problem(self, file: Path, where: str, why: str) -> None:
        self.problems.append(f"{file}: {where}: {why}")
        if len(self.problems) >= MAX_PROBLEMS:
            raise ConvertError([*self.problems, "… (stopped here)"])

    def row_problem(self, source: str, why: str) -> None:
        """A problem with the row at `source`, `<file name>:<where>` as `records` and the
        readers name a row."""
        name, _, where = source.partition(":")
        self.problem(self.files[name], where, why)

    def rows(self, name: str) -> Iterator[tuple[str, object]]:
        """(where, row) of a file holding one JSON list, or of a `.jsonl` file's lines (a line
        that is not JSON is told as a problem); refuses a file that is neither."""
        file = self.files[name]
        if file.suffix == ".jsonl":
            for where, line in self.lines(name):
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as err:
                    self.problem(file, where, f"not JSON ({err.msg})")
            return
        try:
            for item in array_items(file):
                yield f"line {item.line}", item.value
        except JsonArrayError as err:
            raise ConvertError([f"{file}: {err}"]) from None

    def lines(self, name: str) -> Iterator[tuple[str, str]]:
        """(where, line) of each line of a text file that holds more than blanks, its line
        ending taken off; read one at a time."""
        file = self.files[name]
        with file.open("rb") as binary:  # decoded a line at a time, to tell which is not text
            for number, raw in enumerate(binary, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.problem(file, f"line {number}", "not UTF-8 text")
                    continue
                if line.strip():
                    yield f"line {number}", line.rstrip("\r\n")

    def members(self, name: str) -> Iterator[tuple[str, str, object]]:
        """(key, where, value) of a file holding one JSON object (a list member's items one
        by one); refuses one that is not."""
        file = self.files[name]
        try:
            for key, item in object_members(file):
                yield key, f"line {item.line}", item.value
        except JsonArrayError as err:
            raise ConvertError([f"{file}: {err}"]) from None

    def records(
        self, name: str, *required: str, member: str | None = ""
    ) -> Iterator[tuple[str, str, dict]]:
        """(key, source, row) of each row that has every `required` field (any other is told
        as a problem), `source` its file and line: the items of a file that is one JSON list
        (`member=""`), of the list `member` of a file that is one object, or every member of
        an object keyed by id (`member=None`, the key its id)."""
        found = (("", w, r) for w, r in self.rows(name)) if member == "" else self.members(name)
        for key, where, row in found:
            if member and key != member:
                continue
            checked = self.fields(name, where, row, *required)
            if checked is not None:
                yield key, f"{name}:{where}", checked

    def fields(self, name: str, where: str, row: object, *required: str) -> dict | None:
        """The row as a mapping with every `required` field, or None (told as a problem)."""
        missing = [f for f in required if not isinstance(row, dict) or row.get(f) is None]
        if missing:
            what = "not a JSON object" if not isinstance(row, dict) else f"no {', '.join(missing)}"
            self.problem(
                self.files[name], where, f"{what} (the format requires {', '.join(required)})"
            )
            return None
        return row  # type: ignore[return-value]


class Scratch:
    """A key → JSON value table on disk for a release's joins (SQLite in a temporary folder,
    removed on leaving the `with`): memory stays a page cache whatever the release's size."""

    def __enter__(self) -> Scratch:
        self.folder = tempfile.TemporaryDirectory(prefix="lynx-convert-")
        self.db = sqlite3.connect(Path(self.folder.name) / "scratch.sqlite")
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()
        self.folder.cleanup()

    def put_all(self, pairs: Iterable[tuple[object, object]]) -> None:
        rows = ((str(k), json.dumps(v)) for k, v in pairs)
        self.db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
        self.db.commit()

    def get(self, key: object) -> object | None:
        found = self.db.execute("SELECT value FROM kv WHERE key = ?", (str(key),)).fetchone()
        return None if found is None else json.loads(found[0])


def evaluation_media(benchmarks: Iterable[Path]) -> set[str]:
    """The file names of every image and video the evaluation asks about: the `image` and
    `video` fields of a benchmark's rows (Open-VQA, OwlEval, POPE: .jsonl or .json), every
    file under a benchmark folder (MME). Released datasets share media with the benchmarks
    (Open-VQA asks about VQAv2, OCR-VQA, MSVD-QA and MSRVTT-QA media), so a converter given
    them leaves out every row about one of these: the study never trains on what it tests."""
    names: set[str] = set()
    for benchmark in benchmarks:
        if not benchmark.exists():
            raise ConvertError([f"{benchmark}: no such benchmark file or folder (--exclude)"])
        if benchmark.is_dir():
            names |= {media_key(p.name) for p in benchmark.rglob("*") if p.is_file()}
            continue
        try:
            for where, row in json_rows(benchmark):
                if not isinstance(row, dict):
                    raise ConvertError([f"{benchmark}: {where}: not a JSON object ({row})"])
                for kind in ("image", "video"):
                    if isinstance(row.get(kind), str) and row[kind]:
                        names.add(media_key(row[kind]))
        except FormatError as err:
            raise ConvertError([str(err)]) from None
    return names


_COCO = re.compile(r"^COCO_(?:train|val|test)\d{4}_(\d{12})(\.\w+)$")


def media_key(path: str) -> str:
    """What identifies a medium across releases: its file name, and a COCO image by its id
    alone (`COCO_val2014_000000123456.jpg` of VQAv2 and Open-VQA is `000000123456.jpg` of
    COCO 2017, LLaVA-Instruct and A-OKVQA)."""
    name = os.path.basename(path.replace("\\", "/"))  # not pathlib: it interns every name
    coco = _COCO.match(name)
    return f"{coco.group(1)}{coco.group(2)}" if coco else name


def missing_files(converter: Converter, folder: Path) -> list[str]:
    return [name for name in converter.files if not (folder / name).is_file()]


def prepare(converter: Converter, folder: Path, out: Path, exclude: Iterable[Path] = ()) -> dict:
    """Convert the release in `folder` into the training file `out` (JSON lines) and its
    manifest `out.manifest.json`; the manifest's content. Rows about the media of the
    benchmarks in `exclude` are left out (`evaluation_media`). Raises `ConvertError` (nothing
    written) for a release that lacks a file or is malformed."""
    exclude = list(exclude)
    held_out = evaluation_media(exclude)
    missing = missing_files(converter, folder)
    if missing:
        raise ConvertError(
            [
                f"{folder / name}: not there ({converter.name} is {converter.released_as})"
                for name in missing
            ]
        )
    release = Release(folder, {name: folder / name for name in converter.files})
    started = time.perf_counter()
    written, skipped, named = 0, Counter(), {}

    def write(tmp: Path) -> None:
        nonlocal written
        with tmp.open("w", encoding="utf-8") as lines:
            for row in converter.read(release):
                media = None if isinstance(row, Skip) else row.image or row.video
                if held_out and media and media_key(media) in held_out:
                    row = Skip("media of an evaluation item", row.source)
                if isinstance(row, Skip):
                    skipped[row.reason] += 1
                    named.setdefault(row.reason, [])
                    if len(named[row.reason]) < NAMED_SKIPS:
                        named[row.reason].append(row.source)
                    continue
                lines.write(json.dumps(row.row(), ensure_ascii=False) + "\n")
                written += 1
        if release.problems:  # malformed rows: refuse the whole release, write nothing
            raise ConvertError(release.problems)
        if not written:
            raise ConvertError(
                [f"{folder}: no row of the release made an example ({dict(skipped)})"]
            )

    out.parent.mkdir(parents=True, exist_ok=True)
    write_with(out, write)
    manifest = {
        "source": converter.name,
        "role": converter.role,
        "released_as": converter.released_as,
        "license": converter.license,
        "release": str(folder),
        "inputs": {name: (folder / name).stat().st_size for name in converter.files},
        "media_root": str(folder / converter.media),
        "held_out_by": [str(b) for b in exclude],  # benchmarks whose media were left out
        "examples": written,
        "skipped": dict(skipped),
        "skipped_examples": named,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(manifest_path(out), manifest)
    return manifest


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")
