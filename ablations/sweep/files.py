"""Reading sweep files: YAML with line numbers, `include:` of other sweep files, and the
`scales:` sections that make one file runnable at several scales.

An included file supplies defaults that the including file overrides: mappings (`base`,
`axes`, `variants`, `resources`) merge key by key, everything else is replaced. Include paths
are relative to the including file; cycles are errors. A `scales.<scale>` section holds what
differs at that scale (paper-scale weights and 224/420 px where the toy world has 32/60 px)
and is laid over the rest when the sweep runs at that scale. Not here: validation of the
content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablations.sweep.checks import file_problems
from ablations.sweep.errors import Problem, SweepError, at, locate
from ablations.sweep.lines import Found, line_of, parse, read_text
from ablations.sweep.overrides import leaves
from lynx_core.presets import PRESETS

MERGED_FIELDS = ("base", "axes", "variants", "resources")
SCALE_FIELDS = (
    "base", "axes", "zip", "variants", "resources", "baseline", "tune", "stage1_per_seed",
    "seeds",
)  # fmt: skip


def read_yaml(path: Path, included: bool = False) -> tuple[dict[str, Any], dict]:
    """(mapping, key → line) of one file, read as strict YAML (`ablations.sweep.lines`);
    raises `SweepError` with every problem of the file, each with its line. The lines of an
    `included` file carry its name, so problems found after merging still point into it."""
    text, found = read_text(path)
    document = parse(text, str(path) if included else None) if text is not None else None
    if document is not None:
        found = document.problems
        if document.data is not None and not isinstance(document.data, dict):
            found = [*found, Found("file", "must be a mapping of sweep fields (name, base, …)", 1)]
    if found:
        raise SweepError(str(path), [Problem(f.field, f.message, f.line) for f in found])
    return document.data or {}, document.lines


def read_sweep(path: Path, _stack: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict]:
    """The file's mapping with its includes merged in, and the lines of every key (those
    that come from an included file name it)."""
    raw, own = read_yaml(path, included=bool(_stack))
    problems = locate(file_problems(raw), own)
    if problems:
        raise SweepError(str(path), problems)
    merged: dict[str, Any] = {}
    lines: dict = {}
    for i, relative, line in _includes(raw.pop("include", []), own, str(path)):
        target = (path.parent / relative).resolve()
        if target in (*_stack, path.resolve()):
            chain = " → ".join(p.name for p in (*_stack, path.resolve(), target))
            problem = Problem(f"include[{i}]", f"include cycle: {chain}; remove one include", line)
            raise SweepError(str(path), [problem])
        if not target.is_file():
            what = "no such file" if not target.exists() else "not a regular file"
            problem = Problem(
                f"include[{i}]", f"{what} {relative!r} (paths are relative to {path.parent})", line
            )
            raise SweepError(str(path), [problem])
        try:
            included, included_lines = read_sweep(target, (*_stack, path.resolve()))
        except SweepError as err:
            via = ", ".join(filter(None, [err.via, f"included from {path}, line {line}"]))
            raise SweepError(err.source, err.problems, via) from None
        merged, lines = merge(merged, included), {**lines, **included_lines}
    return merge(merged, raw), {**lines, **own}


def _includes(value: Any, lines: dict, source: str) -> list[tuple[int, str, int | None]]:
    """(index, path, line) of each include, or `SweepError` if `include:` is not a path or a
    list of paths."""
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        problem = Problem(
            "include",
            f"must be a file path or a list of file paths, relative to this file (got {value!r})",
            line_of(lines, ("include",)),
        )
        raise SweepError(source, [problem])
    return [
        (i, p, lines.get(("include", i)) or line_of(lines, ("include",)))
        for i, p in enumerate(paths)
    ]


def merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` over `defaults`; mapping fields merge per key (base per dotted path), and
    `scales` per scale, each section merged the same way (a data recipe included for the
    paper scale beside the file's own paper-scale weights)."""
    out = {**defaults}
    for key, value in overrides.items():
        mergeable = isinstance(value, dict) and isinstance(out.get(key), dict)
        if key in MERGED_FIELDS and mergeable:
            if key == "base":
                out[key] = {**leaves(out[key]), **leaves(value)}
            else:
                out[key] = {**out[key], **value}
        elif key == "scales" and mergeable:
            scales = {**out[key]}
            for name, section in value.items():
                both = isinstance(section, dict) and isinstance(scales.get(name), dict)
                scales[name] = merge(scales[name], section) if both else section
            out[key] = scales
        else:
            out[key] = value
    return out


def at_scale(raw: dict[str, Any], lines: dict, scale: str, source: str) -> tuple[dict, dict]:
    """The sweep as it runs at `scale`: the `scales:` sections of the scale and of the presets
    it builds on (tiny on toy) laid over the rest, in that order (base per config field, axes
    per axis, each variant per config field, resources per key; zip and baseline replaced),
    and the lines of the sections' keys in place of those they override, so that a problem in
    a scale-specific value points at the line that wrote it. Every section is checked,
    whichever scale runs."""
    sections = raw.get("scales") or {}
    if not isinstance(sections, dict):
        problem = Problem("scales", "must map scale names to sections", line_of(lines, ("scales",)))
        raise SweepError(source, [problem])
    named = raw.get("variants") if isinstance(raw.get("variants"), dict) else {}
    problems = [
        p for name, section in sections.items() for p in _check_section(name, section, named)
    ]
    if problems:
        raise SweepError(source, locate(problems, lines))
    out = {k: v for k, v in raw.items() if k != "scales"} | {"scale": scale}
    for name in scale_chain(scale):
        out = _lay_over(out, sections.get(name) or {})
        prefix = ("scales", name)
        lines = {**lines, **{path[2:]: line for path, line in lines.items() if path[:2] == prefix}}
    return out, lines


def scale_chain(scale: str) -> list[str]:
    """The presets a scale builds on, then itself: ['toy', 'tiny'] for tiny."""
    chain: list[str] = []
    while scale in PRESETS and scale not in chain:
        chain.insert(0, scale)
        scale = PRESETS[scale].parent
    return chain


def _check_section(name: Any, section: Any, named: dict) -> list[Problem]:
    where = ("scales", name)
    if name not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        return [
            Problem(f"scales.{name}", f"unknown scale {name!r}; allowed: {allowed}", at=at(where))
        ]
    if section is None:
        return []
    if not isinstance(section, dict):
        return [Problem(f"scales.{name}", "must be a mapping of sweep fields", at=at(where))]
    problems = [
        Problem(
            f"scales.{name}.{key}",
            f"a scale section may set {', '.join(SCALE_FIELDS)}; not {key!r}",
            at=at((*where, key)),
        )
        for key in section
        if key not in SCALE_FIELDS
    ]
    variants = section.get("variants")
    for variant in variants if isinstance(variants, dict) else {}:
        if variant not in named:
            problems.append(
                Problem(
                    f"scales.{name}.variants.{variant}",
                    f"no variant {variant!r} to set at scale {name!r}; declare it under "
                    f"`variants:` (variants: {', '.join(map(str, named)) or 'none'})",
                    at=at((*where, "variants", variant)),
                )
            )
    return problems


def _lay_over(sweep: dict[str, Any], section: dict[str, Any]) -> dict[str, Any]:
    out = dict(sweep)
    for key in SCALE_FIELDS:
        if key not in section:
            continue
        mine, theirs = section[key], out.get(key)
        if not (isinstance(mine, dict) and isinstance(theirs, dict)):
            out[key] = mine  # replaced; a type error is the spec's to report
        elif key == "base":
            out[key] = {**leaves(theirs), **leaves(mine)}
        elif key == "variants":
            out[key] = {name: _laid_over(over, mine.get(name)) for name, over in theirs.items()}
        else:
            out[key] = {**theirs, **mine}
    return out


def _laid_over(overrides: Any, scaled: Any) -> Any:
    """One variant's overrides with its scale-specific ones over them, per config field."""
    if scaled is None:
        return overrides
    if not isinstance(overrides, dict | None) or not isinstance(scaled, dict):
        return scaled  # not mappings: the spec reports the type
    return {**leaves(overrides or {}), **leaves(scaled)}
