"""Sweep files: load, validate and expand a YAML sweep into named, fully typed variants.

A sweep has a `base` (overrides of the scale preset), `axes` (a grid: the cartesian product of
each axis' values), `zip` groups (several fields that change together, one grid dimension
each), explicit `variants` (named overrides of the base), `seeds`, per-trial `resources`, a
`baseline` and `include`s of other sweep files. Every problem in the file is collected and
reported at once, with file, line, field and what is allowed, before anything runs.
Not here: planning or running.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from ablations.errors import Problem, SweepError
from ablations.sweep_files import read_sweep
from ablations.yaml_lines import line_of
from lynx_core.config import StrictModel, VariantConfig, config_hash, flatten, nest
from lynx_core.presets import PRESETS

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

__all__ = ["Problem", "SweepError", "SweepSpec", "Variant", "load_sweep"]


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
    zip: list[dict[str, list[Any] | dict[str, Any]]] = Field(
        [], description="groups of fields that move together"
    )
    variants: dict[str, dict[str, Any]] = {}
    seeds: list[int] = Field([0], min_length=1)
    resources: Resources = Resources()
    baseline: str | None = None
    source: str = Field("<memory>", exclude=True, description="file the spec was read from")
    _lines: dict = PrivateAttr(default_factory=dict)  # key → line in `source`, for errors
    _check_paths: bool = PrivateAttr(default=True)  # local weights must exist (False: plan)

    def expand(self) -> list[Variant]:
        """Named variants × seeds, each a complete `VariantConfig` (raises `SweepError`)."""
        variants, problems = _expand(self, self._lines)
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


def load_sweep(path: str | Path, check_paths: bool = True) -> SweepSpec:
    """Read and validate a sweep file (with its includes) and every variant it expands to.

    `check_paths=False` accepts local weight paths that do not exist here (for planning).
    """
    path = Path(path)
    raw, lines = read_sweep(path)
    try:
        spec = SweepSpec.model_validate({**raw, "source": str(path)})
    except ValidationError as err:
        problems = [_problem(e, SweepSpec, (), lines, ()) for e in err.errors()]
        raise SweepError(str(path), problems) from None
    spec._lines = lines
    spec._check_paths = check_paths
    _, problems = _expand(spec, lines)
    if problems:
        raise SweepError(str(path), problems)
    return spec


# ---- expansion -------------------------------------------------------------------------------


def _expand(spec: SweepSpec, lines: dict) -> tuple[list[Variant], list[Problem]]:
    problems: list[Problem] = []
    context = {"check_paths": spec._check_paths}
    if spec.scale not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        msg = f"unknown scale preset {spec.scale!r}; allowed: {allowed}"
        problems.append(Problem("scale", msg, line_of(lines, ("scale",))))
        return [], problems
    preset = PRESETS[spec.scale]
    base = {**preset.overrides, **flatten(spec.base)}
    problems += _check(base, {}, ("base",), lines, context)

    named: list[tuple[str, dict[str, Any], tuple]] = []
    dimensions, found = _grid_dimensions(spec, lines)
    problems += found
    for dimension in dimensions:
        for _, overrides, where in dimension:
            problems += _check(base, overrides, where, lines, context)
    if dimensions:
        for combo in itertools.product(*dimensions):
            name = "-".join(label for label, _, _ in combo)
            overrides = {k: v for _, option, _ in combo for k, v in option.items()}
            named.append((name, overrides, ("axes",)))
    for name, overrides in spec.variants.items():
        where = ("variants", name)
        if not re.match(NAME_PATTERN, name):
            problems.append(
                Problem(f"variants.{name}", "names use a-z, 0-9, '-', '_'", line_of(lines, where))
            )
        problems += _check(base, flatten(overrides), where, lines, context)
        named.append((name, flatten(overrides), where))
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
                config = VariantConfig.model_validate(nest(full), context=context)
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
    if spec._check_paths:  # like weights, a judge key must be here before compute starts
        problems += _missing_judge_keys(variants, lines)
    return variants, problems


def _missing_judge_keys(variants: list[Variant], lines: dict) -> list[Problem]:
    missing: dict[str, list[str]] = {}
    for v in variants:
        env = v.config.eval.gpt_judge.api_key_env
        if v.config.eval.judge == "gpt" and not os.environ.get(env):
            missing.setdefault(env, []).append(v.name)
    return [
        Problem(
            "eval.judge",
            f"judge 'gpt' needs an API key in ${env} (variants {', '.join(names)}); export it, "
            "or set eval.judge: rule for the offline judge",
            line_of(lines, ("base",)),
        )
        for env, names in missing.items()
    ]


def _get(config: BaseModel, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


Option = tuple[str, dict[str, Any], tuple]  # (label, dotted overrides, where in the file)


def _grid_dimensions(spec: SweepSpec, lines: dict) -> tuple[list[list[Option]], list[Problem]]:
    """One dimension per axis and per zip group; their product is the grid."""
    dimensions = [
        [
            (label, flatten({axis: value}), ("axes", axis, i))
            for i, (label, value) in enumerate(_labelled(axis, values))
        ]
        for axis, values in spec.axes.items()
    ]
    problems = []
    for g, group in enumerate(spec.zip):
        lengths = {key: len(values) for key, values in group.items()}
        if len(set(lengths.values())) > 1:
            sizes = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            problems.append(
                Problem(
                    f"zip[{g}]", f"lists must have equal lengths ({sizes})", lines.get(("zip", g))
                )
            )
            continue
        labelled = {key: _labelled(key, values) for key, values in group.items()}
        dimensions.append(
            [
                (
                    "-".join(labelled[key][i][0] for key in group),
                    flatten({key: labelled[key][i][1] for key in group}),
                    ("zip", g, next(iter(group)), i),
                )
                for i in range(next(iter(lengths.values()), 0))
            ]
        )
    return dimensions, problems


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


def _check(base: dict, overrides: dict, where: tuple, lines: dict, context: dict) -> list[Problem]:
    """Validate base+overrides; report only the errors that `overrides` (or base) cause."""
    if not overrides and where != ("base",):
        return []  # the variant is the base: its problems are reported once, under base
    try:
        VariantConfig.model_validate(nest({**base, **overrides}), context=context)
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
    elif where[:1] == ("zip",) and len(where) == 4:
        line = lines.get(where)
        field = f"zip[{where[1]}][{where[3]}].{key[0] or loc}"
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
