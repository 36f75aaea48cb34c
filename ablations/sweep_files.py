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

import yaml

from ablations.errors import Problem, SweepError
from ablations.overrides import leaves
from ablations.yaml_lines import key_lines, line_of
from lynx_core.presets import PRESETS

MERGED_FIELDS = ("base", "axes", "variants", "resources")
SCALE_FIELDS = ("base", "axes", "zip", "variants", "resources", "baseline")


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
                out[key] = {**leaves(out[key]), **leaves(value)}
            else:
                out[key] = {**out[key], **value}
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
        p for name, section in sections.items() for p in _check_section(name, section, named, lines)
    ]
    if problems:
        raise SweepError(source, problems)
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


def _check_section(name: Any, section: Any, named: dict, lines: dict) -> list[Problem]:
    where = ("scales", name)
    if name not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        return [
            Problem(
                f"scales.{name}", f"unknown scale {name!r}; allowed: {allowed}", lines.get(where)
            )
        ]
    if section is None:
        return []
    if not isinstance(section, dict):
        return [Problem(f"scales.{name}", "must be a mapping of sweep fields", lines.get(where))]
    problems = [
        Problem(
            f"scales.{name}.{key}",
            f"a scale section may set {', '.join(SCALE_FIELDS)}; not {key!r}",
            lines.get((*where, key)),
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
                    lines.get((*where, "variants", variant)),
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
