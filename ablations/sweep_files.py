"""Reading sweep files: YAML with line numbers, and `include:` of other sweep files.

An included file supplies defaults that the including file overrides: mappings (`base`,
`axes`, `variants`, `resources`) merge key by key, everything else is replaced. Include paths
are relative to the including file; cycles are errors. Not here: validation of the content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ablations.errors import Problem, SweepError
from ablations.yaml_lines import key_lines, line_of
from lynx_core.config import flatten

MERGED_FIELDS = ("base", "axes", "variants", "resources")


def read_yaml(path: Path) -> tuple[dict[str, Any], dict]:
    """(mapping, key → line) of one file; raises `SweepError` naming the file and line."""
    if not path.is_file():
        raise SweepError(str(path), [Problem("file", "no such sweep file; see sweeps/*.yaml")])
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SweepError(str(path), [Problem("yaml", str(err), line)]) from None
    if not isinstance(raw, dict):
        raise SweepError(str(path), [Problem("file", "must be a mapping of sweep fields")])
    return raw, key_lines(text)


def read_sweep(path: Path, _stack: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict]:
    """The file's mapping with its includes merged in, and the file's own key lines."""
    raw, lines = read_yaml(path)
    includes = raw.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    merged: dict[str, Any] = {}
    for i, relative in enumerate(includes):
        target = (path.parent / relative).resolve()
        line = lines.get(("include", i)) or line_of(lines, ("include",))
        if target in (*_stack, path.resolve()):
            chain = " → ".join(p.name for p in (*_stack, path.resolve(), target))
            problem = Problem(f"include[{i}]", f"include cycle: {chain}; remove one include", line)
            raise SweepError(str(path), [problem])
        if not target.is_file():
            problem = Problem(
                f"include[{i}]",
                f"no such file {relative!r} (paths are relative to {path.parent})",
                line,
            )
            raise SweepError(str(path), [problem])
        included, _ = read_sweep(target, (*_stack, path.resolve()))
        merged = merge(merged, included)
    return merge(merged, raw), lines


def merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` over `defaults`; mapping fields merge per key (base per dotted path)."""
    out = {**defaults}
    for key, value in overrides.items():
        if key in MERGED_FIELDS and isinstance(value, dict) and isinstance(out.get(key), dict):
            if key == "base":
                out[key] = {**flatten(out[key]), **flatten(value)}
            else:
                out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out
