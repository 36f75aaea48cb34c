"""Sweep files: load, validate and expand a YAML sweep into named, fully typed variants.

A sweep has a `base` (overrides of the scale preset), `axes` (a grid: the cartesian product of
each axis' values), explicit `variants` (named overrides of the base), `seeds`, per-trial
`resources` and a `baseline`. Every problem in the file is collected and reported at once, with
file, line, field and what is allowed, before anything runs. Not here: planning or running.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from ablations.yaml_lines import key_lines, line_of
from lynx_core.config import StrictModel, VariantConfig, config_hash, flatten, nest
from lynx_core.presets import PRESETS

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class Resources(StrictModel):
    """What one trial asks Ray for; fractional GPUs share a device (no memory isolation)."""

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)


class SweepSpec(StrictModel):
    """The validated content of a sweep file (overrides still unapplied; see `expand`)."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    scale: str = "toy"
    base: dict[str, Any] = {}
    axes: dict[str, list[Any] | dict[str, Any]] = {}
    variants: dict[str, dict[str, Any]] = {}
    seeds: list[int] = Field([0], min_length=1)
    resources: Resources = Resources()
    baseline: str | None = None
    source: str = Field("<memory>", exclude=True, description="file the spec was read from")

    def expand(self) -> list[Variant]:
        """Named variants × seeds, each a complete `VariantConfig` (raises `SweepError`)."""
        variants, problems = _expand(self, key_lines_of(self.source))
        if problems:
            raise SweepError(self.source, problems)
        return variants


@dataclass(frozen=True)
class Variant:
    name: str
    config: VariantConfig
    overrides: dict[str, Any]
    seed: int

    @property
    def key(self) -> str:
        return config_hash(self.config)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.field}: {self.message}"


class SweepError(ValueError):
    """All problems of one sweep file; raised before any compute is spent."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {count}, nothing was run:\n{lines}")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file, including every variant it expands to."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(str(path), [Problem("file", "no such sweep file; see sweeps/*.yaml")])
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        raise SweepError(str(path), [Problem("yaml", str(err), line and line + 1)]) from None
    if not isinstance(raw, dict):
        raise SweepError(str(path), [Problem("file", "must be a mapping of sweep fields")])
    lines = key_lines(text)
    try:
        spec = SweepSpec.model_validate({**raw, "source": str(path)})
    except ValidationError as err:
        problems = [_problem(e, SweepSpec, (), lines, ()) for e in err.errors()]
        raise SweepError(str(path), problems) from None
    _, problems = _expand(spec, lines)
    if problems:
        raise SweepError(str(path), problems)
    return spec


def key_lines_of(source: str) -> dict:
    path = Path(source)
    return key_lines(path.read_text()) if path.is_file() else {}


# ---- expansion -------------------------------------------------------------------------------


def _expand(spec: SweepSpec, lines: dict) -> tuple[list[Variant], list[Problem]]:
    problems: list[Problem] = []
    if spec.scale not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        msg = f"unknown scale preset {spec.scale!r}; allowed: {allowed}"
        problems.append(Problem("scale", msg, line_of(lines, ("scale",))))
        return [], problems
    preset = PRESETS[spec.scale]
    base = {**preset.overrides, **_dotted(spec.base)}
    problems += _check(base, {}, ("base",), lines)

    named: list[tuple[str, dict[str, Any], tuple]] = []
    grid = {axis: _labelled(axis, values) for axis, values in spec.axes.items()}
    for axis, options in grid.items():
        for i, (_, value) in enumerate(options):
            problems += _check(base, _dotted({axis: value}), ("axes", axis, i), lines)
    if grid:
        for combo in itertools.product(*grid.values()):
            name = "-".join(label for label, _ in combo)
            overrides = _dotted({axis: value for axis, (_, value) in zip(grid, combo, strict=True)})
            named.append((name, overrides, ("axes",)))
    for name, overrides in spec.variants.items():
        where = ("variants", name)
        if not re.match(NAME_PATTERN, name):
            problems.append(
                Problem(f"variants.{name}", "names use a-z, 0-9, '-', '_'", line_of(lines, where))
            )
        problems += _check(base, _dotted(overrides), where, lines)
        named.append((name, _dotted(overrides), where))
    if not named:
        named.append(("base", {}, ("base",)))
    names = [name for name, _, _ in named]
    if spec.baseline is not None and spec.baseline not in names:
        problems.append(
            Problem(
                "baseline",
                f"{spec.baseline!r} is not a variant; choose one of: {', '.join(names)}",
                line_of(lines, ("baseline",)),
            )
        )
    if problems:  # per-override errors first: they name the exact line to fix
        return [], problems

    variants, seen = [], {}
    for name, overrides, where in named:
        if name in seen:
            problems.append(
                Problem(
                    ".".join(map(str, where)),
                    f"variant name {name!r} is used twice; rename one (names must be unique)",
                    line_of(lines, where),
                )
            )
            continue
        seen[name] = overrides
        for seed in spec.seeds:
            full = {**base, **overrides, "train.seed": seed}
            try:
                config = VariantConfig.model_validate(nest(full))
            except ValidationError as err:
                problems += [
                    Problem(
                        f"variant {name}", _message(e, VariantConfig, True), line_of(lines, where)
                    )
                    for e in err.errors()
                ]
                break
            label = name if len(spec.seeds) == 1 else f"{name}-s{seed}"
            variants.append(Variant(label, config, overrides, seed))
    for field, hint in preset.required.items():
        missing = [v.name for v in variants if _get(v.config, field) is None]
        if missing:
            problems.append(
                Problem(
                    f"base.{field}",
                    f"scale {spec.scale!r} needs {field}: {hint} "
                    f"(missing for {', '.join(missing)})",
                    line_of(lines, ("base",)),
                )
            )
    return variants, problems


def _get(config: BaseModel, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _labelled(axis: str, values: list[Any] | dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs: mapping keys as given, else labels derived from the values."""
    if isinstance(values, dict):
        return list(values.items())
    parts = [p for p in axis.split(".") if p != "enabled"]
    field = parts[-1].replace("_", "-")
    labels = []
    for value in values:
        if isinstance(value, bool):
            labels.append(field if value else f"no-{field}")
        elif isinstance(value, str):
            labels.append(value.replace("_", "-"))
        else:
            labels.append(f"{field}{value}")
    return list(zip(labels, values, strict=True))


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    return flatten(overrides)


def _check(base: dict, overrides: dict, where: tuple, lines: dict) -> list[Problem]:
    """Validate base+overrides; report only the errors that `overrides` (or base) cause."""
    try:
        VariantConfig.model_validate(nest({**base, **overrides}))
    except ValidationError as err:
        own = overrides or base
        found = []
        for error in err.errors():
            loc = ".".join(str(p) for p in error["loc"])
            key = next(
                (k for k in own if loc == k or loc.startswith(k + ".") or k.startswith(loc + ".")),
                None,
            )
            if key is None and overrides:
                continue  # caused by the base: reported once, under base
            found.append(_problem(error, VariantConfig, where, lines, (key or "",)))
        return found
    return []


def _problem(error: dict, model: type[BaseModel], where: tuple, lines: dict, key: tuple) -> Problem:
    loc = ".".join(str(p) for p in error["loc"])
    field = ".".join([*(str(w) for w in where), *(k for k in key if k)]) or loc
    if where[:1] == ("axes",) and len(where) == 3:
        line = lines.get(where)
        field = f"axes.{where[1]}[{where[2]}]"
    else:
        line = line_of(lines, tuple(where), key[0] if key else loc)
    return Problem(field, _message(error, model), line)


def _message(error: dict, model: type[BaseModel], with_loc: bool = False) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_fields_at(model, loc[:-1])) or "none"
        return f"unknown field {'.'.join(map(str, loc))!r}; allowed here: {allowed}"
    text = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    where = ".".join(map(str, loc))
    suffix = f" (got {got!r})" if not isinstance(got, dict) else ""
    return f"{where}: {text}{suffix}" if where and with_loc else f"{text}{suffix}"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
