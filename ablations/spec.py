"""Sweep files: load, validate and expand a YAML sweep into named, fully typed variants.

A sweep has a `base` (overrides of the scale preset), `axes` (a grid: the cartesian product of
each axis' values), `zip` groups (several fields that change together, one grid dimension
each), explicit `variants` (named overrides of the base, optionally naming the paper's row
they reproduce: `paper_row`), `seeds`, per-trial `resources`, a `baseline`, `include`s of
other sweep files and `scales:` sections (what differs when the file runs at another scale,
`load_sweep(..., scale=)`). Every problem in the file is collected and reported at once, with
file, line, field and what is allowed, before anything runs; so is a sweep that would run
another experiment than the one written (two variants that are one experiment, a toy-only
field set where it has no effect). Not here: planning or running.
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
from ablations.reference import paper_figures
from ablations.sweep_files import at_scale, read_sweep
from ablations.yaml_lines import line_of
from lynx_core.config import StrictModel, VariantConfig, config_hash, flatten, nest
from lynx_core.presets import PRESETS

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
META_FIELDS = ("paper_row",)  # variant keys that describe it rather than override a field
# fields that take effect only at toy scale: setting one beside its switch changes nothing,
# so two "different" variants would run the same experiment
TOY_ONLY: dict[str, tuple[str, str]] = {
    "model.llm.toy_base": ("model.llm.path", "the LLM is the folder at model.llm.path"),
    **{
        f"model.vision.{f}": ("model.vision.open_clip_name", "the tower is that open_clip model")
        for f in ("patch_size", "width", "layers", "head_width")
    },
}

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
    _file_scale: str | None = PrivateAttr(default=None)  # `scale:` as written in the file

    @property
    def experiment(self) -> str:
        """The name this sweep is recorded under (MLflow experiment, `results/<experiment>/`,
        Ray's trial folder): its name, and the scale when that is not the file's own, so the
        same file at two scales never shares runs or tables."""
        if self._file_scale in (None, self.scale):
            return self.name
        return f"{self.name}@{self.scale}"

    @property
    def make_args(self) -> str:
        """How to name this sweep to `make` (e.g. `NAME=paper SCALE=paper`)."""
        scale = "" if self.experiment == self.name else f" SCALE={self.scale}"
        return f"NAME={self.name}{scale}"

    def expand(self) -> list[Variant]:
        """Named variants × seeds, each a complete `VariantConfig` (raises `SweepError`)."""
        variants, problems = _expand(self, self._lines)
        if problems:
            raise SweepError(self.source, problems)
        return variants


@dataclass(frozen=True)
class Variant:
    """One run of the study: a named variant at one seed."""

    name: str  # unique in the sweep: '<group>-s<seed>' when the sweep has several seeds
    config: VariantConfig
    overrides: dict[str, Any]
    seed: int
    group_name: str | None = None  # the variant without its seed (None: `name`)
    paper_row: str | None = None  # the paper's row this variant reproduces, if any

    @property
    def key(self) -> str:
        return config_hash(self.config)

    @property
    def group(self) -> str:
        """The variant's name without its seed: the rows tables average over seeds."""
        return self.group_name or self.name


def load_sweep(path: str | Path, check_paths: bool = True, scale: str | None = None) -> SweepSpec:
    """Read and validate a sweep file (with its includes) and every variant it expands to.

    `check_paths=False` accepts local weight paths that do not exist here (for planning).
    `scale` runs the file at another scale than its own `scale:` (its `scales.<scale>`
    section, if any, laid over the rest).
    """
    path = Path(path)
    raw, lines = read_sweep(path)
    file_scale = str(raw.get("scale", "toy"))
    raw, lines = at_scale(raw, lines, scale or file_scale, str(path))
    try:
        spec = SweepSpec.model_validate({**raw, "source": str(path)})
    except ValidationError as err:
        problems = [_problem(e, SweepSpec, (), lines, ()) for e in err.errors()]
        raise SweepError(str(path), problems) from None
    spec._lines = lines
    spec._check_paths = check_paths
    spec._file_scale = file_scale
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
    meta: dict[str, dict[str, Any]] = {}
    for name, written in spec.variants.items():
        where = ("variants", name)
        if not re.match(NAME_PATTERN, name):
            problems.append(
                Problem(f"variants.{name}", "names use a-z, 0-9, '-', '_'", line_of(lines, where))
            )
        overrides = flatten(written)
        meta[name] = {k: overrides.pop(k) for k in META_FIELDS if k in overrides}
        problems += _check_meta(name, meta[name], lines)
        problems += _check(base, overrides, where, lines, context)
        named.append((name, overrides, where))
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
            row = meta.get(name, {}).get("paper_row")
            variants.append(Variant(label, config, overrides, seed, name, row))
    problems += _toy_only_fields(variants, flatten(spec.base), named, spec.scale, lines)
    wheres = {name: where for name, _, where in named}
    problems += _same_experiments(variants, wheres, spec.scale, lines)
    if spec._check_paths:  # like weights, a judge key must be here before compute starts
        problems += _missing_judge_keys(variants, lines)
    return variants, problems


def _check_meta(name: str, meta: dict[str, Any], lines: dict) -> list[Problem]:
    row = meta.get("paper_row")
    if row is None or row in paper_figures().rows:
        return []
    known = ", ".join(repr(r) for r, v in paper_figures().rows.items() if v.table == "ablation")
    return [
        Problem(
            f"variants.{name}.paper_row",
            f"{row!r} is not a row of the paper; its rows: 'Lynx', {known} (or a model of its "
            "Table 1, e.g. 'InstructBLIP'); leave it out for a variant the paper did not run",
            line_of(lines, ("variants", name), "paper_row"),
        )
    ]


def _toy_only_fields(
    variants: list[Variant], base: dict, named: list, scale: str, lines: dict
) -> list[Problem]:
    """Fields the sweep sets where they have no effect (a toy field beside real weights)."""
    config = {v.group: v.config for v in variants}
    problems = {}
    for name, overrides, where in named:
        for field, (switch, why) in TOY_ONLY.items():
            if field not in overrides and field not in base:
                continue
            if name not in config or _get(config[name], switch) is None:
                continue
            at = where if field in overrides else ("base",)
            problems[at, field] = Problem(
                f"{'.'.join(map(str, at))}.{field}",
                f"has no effect with {switch} set ({why}), so it would not change the "
                f"experiment at scale {scale!r}; vary {switch} instead, or move {field} into "
                "a `scales: {toy: ...}` section",
                line_of(lines, at, field),
            )
    return list(problems.values())


def _same_experiments(
    variants: list[Variant], wheres: dict, scale: str, lines: dict
) -> list[Problem]:
    """Two variants whose every field is equal would run, and report, one experiment twice."""
    first: dict[tuple[int, str], str] = {}
    problems = []
    for variant in variants:
        other = first.setdefault((variant.seed, variant.key), variant.group)
        if other != variant.group:
            problems.append(
                Problem(
                    ".".join(map(str, wheres[variant.group])),
                    f"variants {other!r} and {variant.group!r} are the same experiment at "
                    f"scale {scale!r} (every field equal); make them differ, e.g. with a "
                    f"value for this scale under scales.{scale}.variants.{variant.group}",
                    line_of(lines, wheres[variant.group]),
                )
            )
    return list({p.message: p for p in problems}.values())  # once per pair, not per seed


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
