"""The items of a file holding one JSON list, read one at a time: LLaVA's instruction and
pretraining files are single lists of hundreds of thousands of rows (`llava_v1_5_mix665k.json`
is 1 GB), which `json.load` would hold whole, several times over as Python objects.

`array_items` walks the file in chunks with the standard library's decoder and yields each
item with the byte span it occupies, so a reader can index a file (offsets, not rows) and
read an item again by seeking to it. Memory is a chunk plus the largest item.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
MAX_ITEM = 64 << 20  # an item larger than this is taken for malformed JSON, not read on


@dataclass(frozen=True)
class Item:
    """One item of the list: its number (from 1), first line, byte span and parsed value."""

    number: int
    line: int
    offset: int
    length: int
    value: object


class JsonArrayError(ValueError):
    """The file is not one JSON list; the message says where it stops being one."""


def array_items(file: Path, chunk: int = CHUNK) -> Iterator[Item]:
    """Each item of the JSON list `file` holds, in order (raises `JsonArrayError`), reading
    `chunk` bytes at a time."""
    with file.open("rb") as stream:
        reader = _opened(stream, chunk, "[", "a JSON list")
        yield from _list_items(reader)
        reader.consume(1)
        _at_end(reader, "the list's closing ']'")


def object_members(file: Path, chunk: int = CHUNK) -> Iterator[tuple[str, Item]]:
    """(key, item) of the JSON object `file` holds: a member whose value is a list gives each
    of its items in turn (never the whole list in memory: COCO's `annotations`, VQAv2's
    `questions`), any other member its value as one item (GQA's questions by id). Raises
    `JsonArrayError`, naming the line."""
    with file.open("rb") as stream:
        reader = _opened(stream, chunk, "{", "a JSON object")
        members, after = 0, reader.peek()
        while after != "}":
            if members:
                reader.consume(1)  # the ',' between members
                reader.peek()
            members += 1
            line = reader.line
            key, _ = reader.value(members)
            if not isinstance(key, str) or reader.peek() != ":":
                raise JsonArrayError(f'line {line}: member {members} is not a "key": value')
            reader.consume(1)
            if reader.peek() == "[":
                reader.consume(1)
                for item in _list_items(reader, f" of {key!r}"):
                    yield key, item
                reader.consume(1)  # its ']'
            else:
                line, offset = reader.line, reader.offset
                value, length = reader.value(members)
                yield key, Item(members, line, offset, length, value)
            after = reader.peek()
            if after not in (",", "}"):
                raise JsonArrayError(
                    f"line {reader.line}: expected ',' or '}}' after member {key!r}, "
                    f"found {after or 'the end of the file'!r}"
                )
        reader.consume(1)
        _at_end(reader, "the object's closing '}'")


def _opened(stream: BinaryIO, chunk: int, opening: str, what: str) -> _Reader:
    """A reader past the file's byte-order mark (some editors write one) and `opening`."""
    reader = _Reader(stream, chunk)
    if reader.peek() == "\ufeff":
        reader.consume(1)
    first = reader.peek()
    if first != opening:
        why = "is empty" if not first else f"is not {what} (it must start with {opening!r})"
        raise JsonArrayError(f"line {reader.line}: the file {why}")
    reader.consume(1)
    return reader


def _list_items(reader: _Reader, of: str = "") -> Iterator[Item]:
    """The items of a list whose '[' was just consumed, up to (not past) its ']'."""
    number, after = 0, reader.peek()
    while after != "]":
        if number:
            reader.consume(1)  # the ',' between items
            reader.peek()  # and the white space after it
        number += 1
        line, offset = reader.line, reader.offset
        value, length = reader.value(number)
        yield Item(number, line, offset, length, value)
        after = reader.peek()
        if after not in (",", "]"):
            raise JsonArrayError(
                f"line {reader.line}: expected ',' or ']' after item {number}{of}, "
                f"found {after or 'the end of the file'!r}"
            )


def _at_end(reader: _Reader, closing: str) -> None:
    if reader.peek():
        raise JsonArrayError(f"line {reader.line}: text after {closing}")


_SPACE = re.compile(r"[ \t\r\n]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+\-]*\Z")  # what may still belong to a number, to the end


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Reader:
    """The file's decoded text from `pos` on, read ahead a chunk at a time; `offset` and
    `line` are the byte offset and line number of `pos`."""

    def __init__(self, stream: BinaryIO, chunk: int):
        self.stream, self.chunk = stream, chunk
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.text, self.pos, self.offset, self.line, self.eof = "", 0, 0, 1, False
        self.decoder = json.JSONDecoder()

    def fill(self) -> bool:
        """Read the next chunk (dropping what was consumed); False at the end of the file."""
        if self.eof:
            return False
        read = self.stream.read(self.chunk)
        self.eof = not read
        self.text = self.text[self.pos :] + self.utf8.decode(read, final=self.eof)
        self.pos = 0
        return not self.eof

    def consume(self, count: int) -> int:
        """Move past `count` characters; the bytes they take."""
        part = self.text[self.pos : self.pos + count]
        self.pos += count
        size = len(part.encode("utf-8"))
        self.offset += size
        self.line += part.count("\n")
        return size

    def peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            self.consume(_SPACE.match(self.text, self.pos).end() - self.pos)
            if self.pos < len(self.text) or not self.fill():
                return self.text[self.pos : self.pos + 1]

    def value(self, number: int) -> tuple[object, int]:
        """The JSON value starting here, consumed, and the bytes it takes."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as err:
                if len(self.text) - self.pos < MAX_ITEM and self.fill():
                    continue  # the item may go on in the next chunk
                line = self.line + self.text.count("\n", self.pos, err.pos)
                why = f"is not valid JSON: {err.msg}"
                if len(self.text) - self.pos >= MAX_ITEM:
                    why = f"is not valid JSON within its first {MAX_ITEM >> 20} MB: {err.msg}"
                raise JsonArrayError(f"line {line}: item {number} {why}") from None
            if _number(value) and _NUMBER_TAIL.match(self.text, end) and self.fill():
                continue  # a number the chunk cut may go on (1 of 12, 1. of 1.5)
            return value, self.consume(end - self.pos)
