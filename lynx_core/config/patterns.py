"""How many names a brace pattern (`cc3m-{00000..00331}.tar`) stands for, counted without
expanding it: a typo such as `{0..9999999999}` would otherwise be expanded in memory before
anything could refuse it. Counts what `braceexpand` expands: alternatives `{a,b}` (nested
ones too), numeric and letter ranges `{0..9}`, `{a..e}` with an optional step `{0..9..2}`, and
any other `{...}` as the literal text it is."""

from __future__ import annotations

import math
import re

MAX_PATTERN_NAMES = 1_000_000  # a million shards is 10B pairs at img2dataset's 10,000 each
_RANGE = re.compile(r"^(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?$")


def pattern_size(pattern: str) -> int:
    """The number of names `braceexpand(pattern)` yields (1 for a plain name)."""
    return math.prod(_group_size(group) for group in _top_level_groups(pattern))


def _top_level_groups(pattern: str) -> list[str]:
    """The contents of the pattern's outermost `{...}` groups (unbalanced braces are text)."""
    groups, depth, start = [], 0, 0
    for i, char in enumerate(pattern):
        if char == "{":
            if depth == 0:
                start = i + 1
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                groups.append(pattern[start:i])
    return groups


def _group_size(body: str) -> int:
    alternatives = _split_top_level(body)
    if len(alternatives) > 1:
        return sum(pattern_size(a) for a in alternatives)
    found = _RANGE.match(body)
    if found is None:
        return 1  # `{x}` stays as written
    first, last, step = found.groups()
    if first.isalpha() != last.isalpha():
        return 1
    low, high = (ord(first), ord(last)) if first.isalpha() else (int(first), int(last))
    return abs(high - low) // max(abs(int(step or 1)), 1) + 1


def _split_top_level(body: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    return [*parts, body[start:]]
