"""Strict YAML for sweep files, with the line of every key, so errors point at what to fix.

PyYAML alone reads a careless file as something else: the second of two `base:` blocks
silently replaces the first, `batch_size: yes` is 1 (YAML 1.1 booleans), `0755` is 493 and
`1:30` is 90, a few hundred bytes of aliases expand to gigabytes, and a deep enough nesting
ends in RecursionError. Here a sweep file is read as YAML 1.2's core schema (booleans are
`true`/`false`, integers decimal, `0o`/`0x` prefixed; no dates, no sexagesimals), as UTF-8
text of bounded size, nesting and alias expansion, with duplicate keys, non-finite numbers
and integers beyond 64 bits refused. Every problem of the file is collected, each with its
line. Not here: what the values mean.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1_000_000  # a sweep file is a page of settings, not data
MAX_DEPTH = 32  # nesting levels, aliases expanded
MAX_NODES = 50_000  # values, aliases expanded (the paper sweep has about 1,500)
INT64 = 2**63

Path_ = tuple[str | int, ...]


class Line(int):
    """A 1-based line number that remembers its file when that is an included one."""

    file: str | None

    def __new__(cls, value: int, file: str | None = None) -> Line:
        line = super().__new__(cls, value)
        line.file = file
        return line


@dataclass
class Found:
    """A problem in the YAML itself: the field (dotted path), what, and the line."""

    field: str
    message: str
    line: int | None


@dataclass
class Document:
    data: Any
    lines: dict[Path_, Line]
    problems: list[Found] = field(default_factory=list)


_INT = re.compile(r"^[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
STR, MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and bounded nesting."""

    yaml_implicit_resolvers: dict = {}

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 (PyYAML's signature)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_yaml_int(self, node):  # noqa: ANN001
        text = self.construct_scalar(node)
        return int(text, 0) if re.search(r"0[ox]", text) else int(text, 10)


_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _SPECIAL_FLOAT, list("-+."))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def read_text(path: Path) -> tuple[str | None, list[Found]]:
    """The file's text, or why it cannot be a sweep file (not a regular file, too big, not
    UTF-8); reads at most `MAX_BYTES` + 1 bytes whatever the file is."""
    if not path.is_file():
        what = "no such sweep file" if not path.exists() else "not a regular file"
        return None, [Found("file", f"{what}; a sweep is a YAML file (see sweeps/*.yaml)", None)]
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        return None, [Found("file", f"cannot be read: {err.strerror}", None)]
    if len(raw) > MAX_BYTES:
        return None, [Found("file", f"is larger than {MAX_BYTES:,} bytes: not a sweep file", None)]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return None, [
            Found("file", f"is not UTF-8 text (byte {raw[err.start]:#04x}); save it as UTF-8", line)
        ]


def parse(text: str, file: str | None = None) -> Document:
    """The document's value, the line of every key and sequence item (as `Line`s naming
    `file`), and every problem found; the value is None where the YAML cannot be read."""
    try:
        loader = _Loader(text)  # its reader refuses control characters at once
        try:
            root = loader.get_single_node()
            if root is None:
                return Document(None, {})
            found = _bounded(root)
            if found:
                return Document(None, {}, found)
            lines = _key_lines(root, file)  # first: constructing merges `<<` in place
            found = _bad_keys(root)
            if found:  # a key that is a list or a mapping cannot even be constructed
                return Document(None, lines, found)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an explicit `!!int abc`
        return Document(None, {}, [_unreadable(err, text)])
    return Document(data, lines, _bad_numbers(data, lines))


def _unreadable(err: Exception, text: str) -> Found:
    """The reader's, parser's or constructor's refusal, at its line."""
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        return Found("yaml", f"holds the control character {chr(err.character)!r}", line)
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return Found("yaml", f"not valid YAML: {problem}", mark.line + 1 if mark else None)


def _bounded(root: yaml.Node) -> list[Found]:
    """Refuse alias expansion past `MAX_NODES` values or `MAX_DEPTH` levels, and aliases
    that contain themselves, without ever expanding them (sizes are memoised per node)."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) → (values, height) once expanded
    open_: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_:
            raise _Refused("an alias refers to a value that contains it", node)
        if key not in sizes:
            open_.add(key)
            children = (
                [n for pair in node.value for n in pair]
                if isinstance(node, yaml.MappingNode)
                else node.value
                if isinstance(node, yaml.SequenceNode)
                else []
            )
            values, height = 1, 0
            for child in children:
                n, h = measure(child, depth + 1)
                values, height = values + n, max(height, h + 1)
                if values > MAX_NODES:
                    raise _Refused(f"expands to more than {MAX_NODES:,} values (aliases)", node)
            open_.discard(key)
            sizes[key] = (values, height)
        values, height = sizes[key]
        if depth + height > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels once aliases expand", node)
        return values, height

    try:
        measure(root, 0)
    except _Refused as refused:
        return [Found("yaml", refused.args[0], refused.node.start_mark.line + 1)]
    return []


class _Refused(Exception):
    def __init__(self, message: str, node: yaml.Node):
        super().__init__(message)
        self.node = node


def _key_lines(root: yaml.Node, file: str | None) -> dict[Path_, Line]:
    """The line of every key and item, by its path of keys and indices; and of every nested
    key also by its dotted leaf (`("base", "model.arch")` for `base: {model: {arch: …}}`), so
    that a field has one line whichever way a file spells it, and a file that overrides
    another's field (an include, a scale section) overrides its line too."""
    lines: dict[Path_, Line] = {}

    def walk(node: yaml.Node, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE:
                    continue
                child = (*path, key_node.value)
                lines.setdefault(child, Line(key_node.start_mark.line + 1, file))
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = Line(item.start_mark.line + 1, file)
                walk(item, (*path, i))

    walk(root, ())  # bounded: `_bounded` has capped the expanded size
    for path, line in list(lines.items()):
        head = _section_depth(path)
        if head and len(path) > head + 1 and all(isinstance(p, str) for p in path[head:]):
            lines[(*path[:head], ".".join(path[head:]))] = line
    return lines


def _section_depth(path: Path_) -> int:
    """How many keys name the section of config overrides a path is in (base: 1, a variant:
    2, the same in a scale section: 2 more), or 0 outside one."""
    offset = 2 if path[:1] == ("scales",) else 0
    section = path[offset : offset + 1]
    return offset + {("base",): 1, ("variants",): 2}.get(section, 0)


def _bad_keys(root: yaml.Node) -> list[Found]:
    """Keys that are problems: written twice in one mapping (YAML would silently keep the
    last), or not text (`1:`, `null:`, a list)."""
    found: list[Found] = []
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, path: Path_) -> None:
        if id(node) in seen_nodes:  # an alias: its keys are the anchor's, told once
            return
        seen_nodes.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == MERGE:
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    what = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                    message = f"a key is {what}; every key of a sweep is a name or a field"
                    found.append(Found(dotted(path) or "key", message, line))
                    continue
                if key_node.tag != STR and not key_node.value.strip():  # a bare `?`: null
                    found.append(
                        Found(
                            dotted((*path, repr(key_node.value))),
                            "a key with nothing written (a bare `?` is a null key); write a "
                            "name or a field",
                            line,
                        )
                    )
                    continue
                if key_node.tag != STR:
                    found.append(
                        Found(
                            dotted((*path, key_node.value)),
                            f"key {key_node.value!r} is not text (every key of a sweep is a name "
                            "or a field); quote it, or write a name",
                            line,
                        )
                    )
                    continue
                key = key_node.value
                if not key.strip():
                    found.append(
                        Found(dotted((*path, repr(key))), "an empty key names nothing", line)
                    )
                    continue
                if key in first:
                    where = (
                        f"lines {first[key]} and {line}" if first[key] != line else f"line {line}"
                    )
                    found.append(
                        Found(
                            dotted((*path, key)),
                            f"written twice in one mapping ({where}); YAML would silently "
                            "keep only the last, so merge them into one",
                            line,
                        )
                    )
                first.setdefault(key, line)
                walk(value_node, (*path, key))
        for i, item in enumerate(children):
            walk(item, (*path, i))

    walk(root, ())
    return found


def _bad_numbers(data: Any, lines: dict[Path_, Line]) -> list[Found]:
    """Infinities, NaNs and integers beyond 64 bits: no setting of a sweep takes them, and
    each would fail deep inside a trial (a NaN loss, a seed that overflows)."""
    found: list[Found] = []

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif isinstance(value, float) and not math.isfinite(value):
            found.append(Found(dotted(path), f"{value} is not a finite number", _line(lines, path)))
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
            found.append(
                Found(dotted(path), f"{value} does not fit in 64 bits", _line(lines, path))
            )

    walk(data, ())
    return found


def dotted(path: Path_) -> str:
    """("base", "model", "arch") → "base.model.arch"; indices as [i]."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _line(lines: dict[Path_, Line], path: Path_) -> int | None:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path)


def line_of(lines: dict[Path_, int], section: Path_, dotted: str = "") -> int | None:
    """Line of `dotted` (which may be one YAML key 'a.b' or nested keys a: {b:}, or a list's
    item by its index, 'files.0') in `section`."""
    parts = dotted.split(".") if dotted else []
    best = lines.get(section)
    if parts and parts[0].isdigit() and (*section, int(parts[0])) in lines:  # a list's item
        item = (*section, int(parts[0]))
        rest = ".".join(parts[1:])
        return line_of(lines, item, rest) if rest else lines[item]
    for split in range(len(parts), 0, -1):  # longest literal key first: 'a.b' before 'a'
        head = (*section, ".".join(parts[:split]))
        if head in lines:
            rest = ".".join(parts[split:])
            return line_of(lines, head, rest) if rest else lines[head]
    return best
