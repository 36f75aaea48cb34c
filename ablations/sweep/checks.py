"""Checks of a sweep file's shape that its schema cannot say, each a way a careless file
would otherwise run another experiment than the one written: a field set twice in one
variant, an empty axis that collapses the grid to one variant, `seeds:` silently replacing
an axis on `train.seed`, two seeds that are one, a generated variant name that no file or
MLflow filter can hold, two sweep files sharing one MLflow experiment. Pure functions of
the file's mapping, each problem at its place in the file; `ablations.sweep.spec` calls them
before the schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ablations.sweep.errors import Place, Problem, at
from ablations.sweep.lines import MAX_BYTES, dotted
from ablations.sweep.overrides import overlaps, section_fields, written_twice
from lynx_core.config import SEED_LIMIT, flatten

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # a sweep's, a variant's: one pattern
LABEL_PATTERN = r"[A-Za-z0-9._-]+"  # a part of a variant name made from axis values
MAX_NAME = 80  # with '-s<seed>', a file name, a Ray trial folder and an MLflow tag hold it
SEED_FIELD = "train.seed"
BASES_SEED_FIELD = "train.bases_seed"  # set by the seed too where `bases_per_seed: true`
STAGE2_SEED_FIELD = "train.stage2_seed"  # set by the seed where `stage1_per_seed: false`
SEED_FIELDS = (SEED_FIELD, STAGE2_SEED_FIELD)  # no sweep writes them: its seeds do
# a variant's keys that describe it, not override: its paper row, what else it is compared
# with, the claims it declares and its own seeds (replacing the sweep's: more for a noisy pair)
META = ("paper_row", "compare_to", "claims", "seeds")
SHAPES = {  # top-level field → (type, what it must be)
    "name": (str, "a name (letters, digits, '.', '-', '_')"),
    "description": (str, "text"),
    "scale": (str, "a scale name"),
    "base": (dict, "a mapping of config fields to values"),
    "axes": (dict, "a mapping of config fields to lists of values (or of label: value)"),
    "zip": (list, "a list of groups, each a mapping of config fields to equally long lists"),
    "variants": (dict, "a mapping of variant names to their overrides"),
    "seeds": (list, "a list of distinct seeds, e.g. [0, 1, 2]"),
    "bases_per_seed": (bool, "true or false"),
    "stage1_per_seed": (bool, "true or false"),
    "resources": (dict, "a mapping such as {cpus: 1, gpus: 0}"),
    "baseline": (str, "the name of one variant"),
    "tune": (dict, "a mapping with variants, values (field: [candidates]) and metric"),
}


def file_problems(raw: dict[str, Any]) -> list[Problem]:
    """Problems of one file as written, before includes and scale sections are merged (so a
    field set twice in one mapping is told apart from an include's default overridden)."""
    problems = []
    for where, written in _override_mappings(raw):
        for field, why in written_twice(written):
            problems.append(Problem(dotted((*where, field)), why, at=at(where, field)))
    return problems


def shape_problems(raw: dict[str, Any]) -> tuple[list[Problem], set[str]]:
    """Problems of the merged sweep's shape, and the top-level fields they are about: those
    are not checked again by the schema (whose message would be about union internals)."""
    problems = []
    for key, (kind, what) in SHAPES.items():
        value = raw.get(key)
        switch = isinstance(value, bool) and kind is not bool  # true is not a count or a name
        if value is not None and (not isinstance(value, kind) or switch):
            got = type(value).__name__
            problems.append(Problem(key, f"must be {what}; got {got} {value!r:.60}", at=at((key,))))
    if problems:
        return problems, {p.field for p in problems}
    per_field = {
        "axes": _axis_problems(raw.get("axes") or {}),
        "zip": _zip_problems(raw.get("zip") or [], raw.get("axes") or {}),
        "seeds": _seed_problems(raw),
        "overrides": [  # in base and variants: reported, but the schema still checks them
            p
            for where, written in _override_mappings(raw)
            for field, value in written.items()
            for p in _section_value(where, str(field), value)
        ],
    }
    problems = [p for found in per_field.values() for p in found]
    return problems, {key for key, found in per_field.items() if found and key != "overrides"}


def name_problem(
    name: str, where: str, place: tuple[Place, ...], made_from: str = ""
) -> Problem | None:
    """Whether a variant name can be a file name, a Ray trial folder and an MLflow tag."""
    if re.fullmatch(NAME_PATTERN, name) and len(name) <= MAX_NAME:
        return None
    why = (
        f"is {len(name)} characters; at most {MAX_NAME}"
        if re.fullmatch(NAME_PATTERN, name)
        else "may hold only letters, digits, '.', '-' and '_', starting with a letter or digit"
    )
    fix = (
        f"; it is made from {made_from}: give the values labels, "
        "`axes: {field: {label: value, ...}}`"
        if made_from
        else ""
    )
    shown = name if len(name) <= MAX_NAME else f"{name[:MAX_NAME]}…"
    return Problem(where, f"variant name {shown!r} {why}{fix}", at=place)


def case_clashes(names: list[str]) -> list[tuple[str, str]]:
    """Pairs of names equal but for case: one folder on macOS and Windows."""
    first: dict[str, str] = {}
    return [(first[n.lower()], n) for n in names if first.setdefault(n.lower(), n) != n]


def identity_problem(name: str, path: Path) -> Problem | None:
    """A sweep's name is its MLflow experiment and results folder: one that another sweep
    file in the same folder has (as its file name or its `name:`) would mix the two studies'
    runs. A file named otherwise than its `name:` is fine while no other file claims it."""
    if path.stem == name:
        return None
    for other in sorted(path.parent.glob("*.y*ml")):
        if other.resolve() == path.resolve() or not other.is_file():
            continue
        if other.stem == name or _declared_name(other) == name:
            return Problem(
                "name",
                f"{name!r} is also the sweep of {other}: both would record into one MLflow "
                f"experiment and one results folder; name this sweep {path.stem!r}, after its file",
                at=at(("name",)),
            )
    return None


def _declared_name(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            head = f.read(MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None  # unreadable: it records nowhere
    found = re.search(r"^name:\s*['\"]?([^'\"\s#]+)", head, re.MULTILINE)
    return found.group(1) if found else None


def _override_mappings(raw: dict[str, Any]) -> Iterator[tuple[tuple, dict]]:
    """(where, overrides) of every mapping that sets config fields: base, each variant, and
    the same inside each scale section."""
    for prefix, section in _sections(raw):  # each section's base, then its variants
        if isinstance(section.get("base"), dict):
            yield (*prefix, "base"), section["base"]
        for where, written in _section_variants(prefix, section):
            yield where, {k: v for k, v in written.items() if k not in META}


def _variant_mappings(raw: dict[str, Any]) -> Iterator[tuple[tuple, dict]]:
    """(where, as written) of every variant, in the file and in each scale section."""
    for prefix, section in _sections(raw):
        yield from _section_variants(prefix, section)


def _section_variants(prefix: tuple, section: dict) -> Iterator[tuple[tuple, dict]]:
    variants = section.get("variants")
    for name, written in (variants or {}).items() if isinstance(variants, dict) else ():
        if isinstance(written, dict):
            yield (*prefix, "variants", name), written


def _sections(raw: dict[str, Any]) -> list[tuple[tuple, dict]]:
    """The file's top level and each of its scale sections, with their places."""
    scales = raw.get("scales")
    found = [((), raw)]
    if isinstance(scales, dict):
        found += [(("scales", s), v) for s, v in scales.items() if isinstance(v, dict)]
    return found


def _axis_problems(axes: dict[str, Any]) -> list[Problem]:
    problems = []
    for axis, values in axes.items():
        place = at(("axes", axis))
        if not isinstance(values, list | dict) or not values:
            problems.append(
                Problem(
                    f"axes.{axis}",
                    "must list at least one value ([a, b]) or label values ({a: 1, b: 2}); "
                    f"got {values!r:.60} (an empty axis would leave no variant to run)",
                    at=place,
                )
            )
        elif isinstance(values, list):
            problems += _repeated_values(f"axes.{axis}", values, place)
    return problems


def _zip_problems(groups: list[Any], axes: dict[str, Any]) -> list[Problem]:
    problems = []
    owner: dict[str, str] = {axis: f"axes.{axis}" for axis in axes}
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or not group:
            problems.append(
                Problem(
                    f"zip[{g}]",
                    "must map config fields to equally long, non-empty lists of values; "
                    f"got {group!r:.60}",
                    at=at(("zip", g)),
                )
            )
            continue
        for key, values in group.items():
            if not isinstance(values, list | dict) or not values:
                problems.append(
                    Problem(
                        f"zip[{g}].{key}",
                        f"must list at least one value; got {values!r:.60}",
                        at=at(("zip", g), key),
                    )
                )
            clash = next((k for k in owner if overlaps(k, key)), None)
            if clash is not None:
                problems.append(
                    Problem(
                        f"zip[{g}].{key}",
                        f"is also set by {owner[clash]}: one would silently win while variant "
                        "names still say the other's value; set each field in one place",
                        at=at(("zip", g), key),
                    )
                )
            owner.setdefault(key, f"zip[{g}]")
    return problems


def _seed_problems(raw: dict[str, Any]) -> list[Problem]:
    problems = []
    if raw.get("seeds") is not None:
        problems += _seed_list_problems("seeds", raw["seeds"], at(("seeds",)))
    sweep = raw.get("seeds") if isinstance(raw.get("seeds"), list) else [0]
    for where, written in _variant_mappings(raw):
        own = written.get("seeds")
        if own is None:
            continue
        field, place = dotted((*where, "seeds")), at(where, "seeds")
        found = _seed_list_problems(field, own, place)
        missing = [s for s in sweep if s not in own] if not found else []
        if missing:  # its comparisons pair on the seeds both sides ran: it adds, never drops
            found.append(
                Problem(
                    field,
                    f"leaves out the sweep's seeds {missing}: a variant's comparisons pair on "
                    "the seeds both sides ran, so its own seeds are the sweep's and more; "
                    f"add {missing}",
                    at=place,
                )
            )
        problems += found
    for seed_field in SEED_FIELDS:
        for where, written in _override_mappings(raw):
            if seed_field in flatten(written):
                problems.append(_seed_override(dotted((*where, seed_field)), at(where), seed_field))
        for axis in raw.get("axes") or {}:
            if axis == seed_field:
                problems.append(_seed_override(f"axes.{axis}", at(("axes", axis)), seed_field))
        for g, group in enumerate(raw.get("zip") or []):
            if isinstance(group, dict) and seed_field in group:
                where = f"zip[{g}].{seed_field}"
                problems.append(_seed_override(where, at(("zip", g)), seed_field))
    if raw.get("bases_per_seed") is True and raw.get("stage1_per_seed") is False:
        problems.append(
            Problem(
                "stage1_per_seed",
                "is false, but bases_per_seed: true gives each seed its own bases, so its "
                "stage 1 cannot be shared; choose one",
                at=at(("stage1_per_seed",)),
            )
        )
    if raw.get("bases_per_seed") is True:
        for where, written in _override_mappings(raw):
            if BASES_SEED_FIELD in flatten(written):
                problems.append(
                    Problem(
                        dotted((*where, BASES_SEED_FIELD)),
                        "sets train.bases_seed, which `bases_per_seed: true` sets to each seed "
                        "(and would silently replace); leave it out, or set bases_per_seed: "
                        "false for bases shared by every seed",
                        at=at(where),
                    )
                )
    return problems


def _seed_list_problems(field: str, seeds: Any, place: tuple[Place, ...]) -> list[Problem]:
    """A list of seeds, the sweep's or a variant's own: distinct integers in range."""
    if not isinstance(seeds, list):
        return [Problem(field, f"must be {SHAPES['seeds'][1]}; got {seeds!r:.60}", at=place)]
    if not seeds:
        return [Problem(field, "must list at least one seed, e.g. [0]", at=place)]
    problems = []
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int)]
    bad += [s for s in seeds if isinstance(s, int) and not 0 <= s < SEED_LIMIT]
    if bad:
        message = f"seeds are integers from 0 to {SEED_LIMIT - 1}; not {bad}"
        problems.append(Problem(field, message, at=place))
    return problems + _repeated_values(field, seeds, place)


def _seed_override(where: str, place: tuple[Place, ...], field: str) -> Problem:
    return Problem(
        where,
        f"sets {field}, which `seeds:` sets for every variant (and would silently "
        "replace); list the seeds under `seeds:` instead",
        at=place,
    )


def _repeated_values(where: str, values: list[Any], place: tuple[Place, ...]) -> list[Problem]:
    seen: set[tuple[type, Any]] = set()  # by type too: true is not 1, 1 is not 1.0
    unhashable: list[tuple[type, Any]] = []  # a list given as a value: compared one by one
    repeated: list[tuple[type, Any]] = []  # in the order they repeat, each once
    told: set[tuple[type, Any]] = set()
    for v in values:  # linear in the values: a script's 20,000 seeds are refused in seconds
        key = (type(v), v)
        try:
            first_repeat = key in seen and key not in told
            seen.add(key)
            if first_repeat:
                told.add(key)
        except TypeError:
            first_repeat = key in unhashable and key not in repeated
            unhashable.append(key)
        if first_repeat:
            repeated.append(key)
    if not repeated:
        return []
    shown = ", ".join(repr(v) for _, v in repeated[:10])
    more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
    return [Problem(where, f"lists {shown}{more} twice: one run, two names", at=place)]


def _section_value(where: tuple, field: str, value: Any) -> list[Problem]:
    """A scalar given where a config section goes (`train.stage2: 300`)."""
    if isinstance(value, dict):
        inner = (_section_value(where, f"{field}.{k}", v) for k, v in value.items())
        return [p for found in inner for p in found]
    fields = section_fields(field)
    if fields is None or value is None:
        return []
    return [
        Problem(
            dotted((*where, field)),
            f"is a section, not a value (got {value!r:.60}); set its fields, e.g. "
            f"`{field}.{fields[0]}: ...` (fields: {', '.join(fields)})",
            at=at(where, field),
        )
    ]
