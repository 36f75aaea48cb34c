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

import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from ablations.sweep.checks import (
    LABEL_PATTERN,
    MAX_NAME,
    META,
    NAME_PATTERN,
    case_clashes,
    identity_problem,
    name_problem,
    shape_problems,
)
from ablations.sweep.errors import Problem, SweepError
from ablations.sweep.files import at_scale, read_sweep, scale_chain
from ablations.sweep.lines import dotted, line_of
from ablations.sweep.overrides import leaves, overlaps
from ablations.sweep.reference import CLAIMS, paper_figures
from lynx_core.checks import missing_paths, preflight
from lynx_core.config import StrictModel, VariantConfig, config_hash, flatten, nest
from lynx_core.presets import PRESETS
from lynx_core.stages import STAGES, Stage, stage_of

LLM_SIZES = ("toy_base", "hidden_size", "layers", "heads", "intermediate_size", "vocab_size")
TOY_TOWER = ("patch_size", "width", "layers", "head_width")


@dataclass(frozen=True)
class NoEffect:
    """Fields that a switch makes irrelevant (the toy bases' settings beside real weights):
    set where they cannot act, two "different" variants would run one experiment."""

    prefixes: tuple[str, ...]
    idle: Callable[[VariantConfig], bool]  # whether the fields do nothing in this config
    why: str


NO_EFFECT = (
    NoEffect(
        tuple(f"model.llm.{f}" for f in LLM_SIZES),
        lambda c: c.model.llm.path is not None,
        "model.llm.path is set: the LLM is that folder's, with its own sizes",
    ),
    NoEffect(
        tuple(f"model.vision.{f}" for f in TOY_TOWER),
        lambda c: c.model.vision.open_clip_name is not None,
        "model.vision.open_clip_name is set: the tower is that open_clip model",
    ),
    NoEffect(
        ("train.bases.",),
        lambda c: c.model.llm.path is not None,
        "model.llm.path is set: no toy LLM is pretrained",
    ),
    NoEffect(
        ("train.instruct.",),
        lambda c: c.model.llm.path is not None or c.model.llm.toy_base == "llama",
        "the LLM is not the toy Vicuna: no instruction tuning runs",
    ),
    NoEffect(
        ("train.clip.",),
        lambda c: (
            c.model.vision.open_clip_name is not None or c.model.vision.checkpoint is not None
        ),
        "the tower is given (open_clip_name / checkpoint): no CLIP pretraining runs",
    ),
)

__all__ = ["Problem", "SweepError", "SweepSpec", "Variant", "load_sweep"]


Amount = Annotated[float, Field(gt=0)]
TRIAL_TOKEN_CPUS = 0.01  # what a multi-worker stage's trial holds while its workers compute


class TrialResources(StrictModel):
    """One stage's own request, where it differs from the sweep's default (unset: inherited)."""

    cpus: float | None = Field(None, gt=0)
    gpus: float | None = Field(None, ge=0)
    custom: dict[str, Amount] = Field({}, description="Ray custom resources, e.g. {TPU: 1}")


class WorkerResources(TrialResources):
    """A training or eval stage's request: per worker, and how many workers (data-parallel
    ranks of one Ray Train run; eval deals its batches of questions out among them);
    `workers: 1` is a plain trial."""

    workers: int = Field(1, ge=1, le=4096)


@dataclass(frozen=True)
class Ask:
    """What one stage run asks Ray for, resolved: `workers` × (cpus, gpus, custom)."""

    cpus: float
    gpus: float
    custom: dict[str, float]
    workers: int = 1

    def __str__(self) -> str:
        each = " / ".join(
            [f"{self.cpus:g} cpu", f"{self.gpus:g} gpu"]
            + [f"{amount:g} {name}" for name, amount in sorted(self.custom.items())]
        )
        return f"{self.workers} workers x {each}" if self.workers > 1 else each

    @property
    def threads(self) -> int:
        """Torch threads for one worker: its whole CPUs, at least one."""
        return max(int(self.cpus), 1)

    def bundle(self) -> dict[str, float]:
        """One worker's resources in Ray's names, the amounts it asks for (none of 0)."""
        every = {"CPU": self.cpus, "GPU": self.gpus, **self.custom}
        return {name: amount for name, amount in every.items() if amount > 0}


class Resources(StrictModel):
    """What each stage run asks Ray for. The top level is every stage's default (so the
    single block of older sweeps still means what it did); `bases`, `stage1`, `stage2` and
    `eval` override it per stage, e.g. no GPU for the bases and 8 GPU workers for stage 1.
    Fractional GPUs share a device (no memory isolation)."""

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    custom: dict[str, Amount] = Field({}, description="Ray custom resources, e.g. {TPU: 1}")
    bases: TrialResources = TrialResources()
    stage1: WorkerResources = WorkerResources()
    stage2: WorkerResources = WorkerResources()
    eval: WorkerResources = WorkerResources()

    def of(self, stage: Stage) -> Ask:
        own: TrialResources = getattr(self, stage)
        return Ask(
            cpus=self.cpus if own.cpus is None else own.cpus,
            gpus=self.gpus if own.gpus is None else own.gpus,
            custom={**self.custom, **own.custom},
            workers=getattr(own, "workers", 1),
        )

    def describe(self) -> str:
        """E.g. '8 cpu / 1 gpu per stage run; bases 8 cpu / 0 gpu; stage1 8 workers x 8 cpu
        / 1 gpu' (the stages that differ from the default)."""
        default = Ask(self.cpus, self.gpus, dict(self.custom))
        parts = [f"{default} per stage run"]
        parts += [f"{stage} {self.of(stage)}" for stage in STAGES if self.of(stage) != default]
        return "; ".join(parts)

    def gpus_by_stage(self) -> dict[Stage, float]:
        return {stage: self.of(stage).gpus for stage in STAGES}

    @property
    def any_gpus(self) -> bool:
        return any(gpus > 0 for gpus in self.gpus_by_stage().values())


class TuneSpec(StrictModel):
    """Fair tuning: each named variant chooses its own value of some fields (zipped lists of
    candidates, e.g. its new modules' learning rates) by a metric on the validation split,
    before any test question is read; the sweep then runs each with its choice."""

    variants: list[str] = Field(min_length=1, description="the variants that choose")
    values: dict[str, list[Any]] = Field(
        min_length=1,
        description="field → its candidate values; several fields move together (zipped)",
    )
    metric: str = Field(
        "openvqa/overall", description="what the choice maximises, on the validation split"
    )
    goal: Literal["max", "min"] = "max"
    seeds: list[int] | None = Field(
        None,
        description="the seeds the choice is made on, apart from the study's (default: one "
        "past the sweep's last): a final run is never the candidate that won on its own luck",
    )

    @property
    def candidates(self) -> list[dict[str, Any]]:
        count = len(next(iter(self.values.values())))
        return [{field: values[i] for field, values in self.values.items()} for i in range(count)]


class SweepSpec(StrictModel):
    """The validated content of a sweep file (overrides still unapplied; see `expand`)."""

    name: str = Field(
        pattern=NAME_PATTERN, max_length=MAX_NAME, description="its MLflow experiment"
    )
    description: str = ""
    scale: str = "toy"
    base: dict[str, Any] = {}
    axes: dict[str, list[Any] | dict[str, Any]] = {}
    zip: list[dict[str, list[Any] | dict[str, Any]]] = Field(
        [], description="groups of fields that move together"
    )
    variants: dict[str, dict[str, Any]] = {}
    seeds: list[int] = Field([0], min_length=1)
    bases_per_seed: bool = Field(
        False,
        description="each seed also trains its own frozen bases (train.bases_seed = the seed), "
        "so intervals hold the toy LLM's and tower's variance too; false: one set of bases "
        "for every seed, as Vicuna and EVA are fixed in the paper",
    )
    resources: Resources = Resources()
    baseline: str | None = None
    tune: TuneSpec | None = None
    source: str = Field("<memory>", exclude=True, description="file the spec was read from")
    _lines: dict = PrivateAttr(default_factory=dict)  # key → line in `source`, for errors
    _check_paths: bool = PrivateAttr(default=True)  # local weights must exist (False: plan)
    _file_scale: str | None = PrivateAttr(default=None)  # `scale:` as written in the file
    _choices: dict = PrivateAttr(default_factory=dict)  # variant → its tuned values
    _tuning: bool = PrivateAttr(default=False)  # expand the tuning candidates instead

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
        """Named variants × seeds, each a complete `VariantConfig` (raises `SweepError`); a
        tuned variant with its chosen values (`with_choices`), else with its base's."""
        variants, problems = _expand(self, self._lines)
        if problems:
            raise SweepError(self.source, problems)
        return variants

    def with_choices(self, choices: dict[str, dict[str, Any]]) -> SweepSpec:
        """This sweep with the tuned variants' chosen values (variant → field → value)."""
        tuned = self.model_copy()
        tuned._choices = dict(choices)
        return tuned

    def tuning(self) -> SweepSpec:
        """The sweep of the tuning candidates: every tuned variant with each candidate, on
        the tuning seeds, evaluated on the validation split (named `<variant>.tune<i>`)."""
        candidates = self.model_copy()
        candidates._tuning = True
        return candidates

    @property
    def tuned_fields(self) -> tuple[str, ...]:
        return tuple(self.tune.values) if self.tune else ()

    @property
    def tuning_seeds(self) -> list[int]:
        if self.tune is None:
            return []
        return list(self.tune.seeds or [max(self.seeds) + 1])

    @property
    def choosing(self) -> set[str]:
        """The variants whose config waits on a choice: the tuned ones, and, when the
        baseline is tuned, every other one, which takes the baseline's choice (a variant
        changes one thing against the baseline as it runs)."""
        if self.tune is None:
            return set()
        if self.baseline in self.tune.variants:
            return set(self.variants) | set(self.tune.variants) | {self.baseline}
        return set(self.tune.variants)

    @property
    def choices(self) -> dict[str, dict[str, Any]]:
        """The tuned variants' chosen values, as given to `with_choices`."""
        return dict(self._choices)


@dataclass(frozen=True)
class Variant:
    """One run of the study: a named variant at one seed."""

    name: str  # unique in the sweep: '<group>-s<seed>' when the sweep has several seeds
    config: VariantConfig
    overrides: dict[str, Any]
    seed: int
    group_name: str | None = None  # the variant without its seed (None: `name`)
    paper_row: str | None = None  # the paper's row this variant reproduces, if any
    compare_to: str | None = None  # a variant it is also compared with (beside the baseline)
    claims: tuple[str, ...] = ()  # the findings' claims it declares it tests (`CLAIMS` ids)

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
    section, if any, laid over the rest). The file is also validated at every other scale
    its `scales:` sections name (paths unchecked), so that every problem of the file is told
    at once, whichever scale runs.
    """
    path = Path(path)
    if scale is not None and scale not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        problem = Problem("--scale", f"unknown scale {scale!r}; allowed: {allowed}")
        raise SweepError(str(path), [problem])
    written, lines = read_sweep(path)
    file_scale = str(written.get("scale", "toy"))
    scale = scale or file_scale
    spec, problems = _load(path, written, lines, scale, file_scale, check_paths)
    sections = written.get("scales") if isinstance(written.get("scales"), dict) else {}
    for other in sorted(set(sections) & set(PRESETS) - set(scale_chain(scale))):
        _, found = _load(path, written, lines, other, file_scale, check_paths=False)
        problems += [
            replace(p, message=f"{p.message} (at scale {other})")
            for p in found
            if p not in problems
        ]
    if problems:
        raise SweepError(str(path), problems)
    return spec


def _load(
    path: Path, written: dict, lines: dict, scale: str, file_scale: str, check_paths: bool
) -> tuple[SweepSpec | None, list[Problem]]:
    """The spec at one scale, and every problem of the file there."""
    raw, lines = at_scale(written, lines, scale, str(path))
    problems, shaped = shape_problems(raw, lines)
    try:  # fields whose shape is wrong are told once, not again in the schema's words
        spec = SweepSpec.model_validate(
            {**{k: v for k, v in raw.items() if k not in shaped}, "source": str(path)}
        )
    except ValidationError as err:
        return None, problems + [_problem(e, SweepSpec, (), lines, ()) for e in err.errors()]
    problems += filter(None, [identity_problem(spec.name, path, lines)])
    if problems:
        return None, problems
    spec._lines = lines
    spec._check_paths = check_paths
    spec._file_scale = file_scale
    _, problems = _expand(spec, lines)
    return spec, problems


# ---- expansion -------------------------------------------------------------------------------


def _expand(spec: SweepSpec, lines: dict) -> tuple[list[Variant], list[Problem]]:
    lines = {**lines, **_label_lines(spec, lines)}
    problems: list[Problem] = []
    check_paths = spec._check_paths  # whether the local paths the variants name are looked for
    if spec.scale not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        msg = f"unknown scale preset {spec.scale!r}; allowed: {allowed}"
        problems.append(Problem("scale", msg, line_of(lines, ("scale",))))
        return [], problems
    preset = PRESETS[spec.scale]
    base = {**preset.overrides, **leaves(spec.base)}
    base_errors = _errors(nest(base), check_paths)  # once: told here, and set apart in variants
    problems += _attributed(base_errors, base, ("base",), lines, set())
    known = {_signature(e) for e in base_errors}

    named: list[tuple[str, dict[str, Any], tuple]] = []
    dimensions, found = _grid_dimensions(spec, lines)
    problems += found
    for dimension in dimensions:
        for _, overrides, where in dimension:
            problems += _check(base, overrides, where, lines, check_paths, known)
    if dimensions:
        for combo in itertools.product(*dimensions):
            name = "-".join(label for label, _, _ in combo)
            overrides = {k: v for _, option, _ in combo for k, v in option.items()}
            named.append((name, overrides, ("axes",)))
        problems += _generated_name_problems(named, dimensions, lines)
    meta: dict[str, dict[str, Any]] = {}
    for name, written in spec.variants.items():
        where = ("variants", name)
        bad_name = name_problem(str(name), f"variants.{name}", line_of(lines, where))
        problems += [bad_name] if bad_name else []
        overrides = leaves(written or {})
        meta[name] = {k: overrides.pop(k) for k in META if k in overrides}
        problems += _check(base, overrides, where, lines, check_paths, known)
        named.append((name, overrides, where))
    if not named:
        named.append(("base", {}, ("base",)))
    names = [name for name, _, _ in named]
    problems += [
        Problem(
            "variants",
            f"variants {a!r} and {b!r} differ only in case: one folder where file names "
            "ignore case (macOS, Windows); rename one",
            line_of(lines, ("variants", b)),
        )
        for a, b in case_clashes(list(dict.fromkeys(names)))
    ]
    for name, described in meta.items():
        problems += _check_meta(name, described, names, lines)
    if spec.baseline is not None and spec.baseline not in names:
        problems.append(
            Problem(
                "baseline",
                f"{spec.baseline!r} is not a variant; choose one of: {', '.join(names)}",
                line_of(lines, ("baseline",)),
            )
        )
    problems += _tune_problems(spec, base, named, lines)
    if problems:  # per-override errors first: they name the exact line to fix
        return [], problems

    seeds = spec.seeds
    if spec._tuning:
        named, seeds = _tuning_candidates(spec, named)
    elif spec._choices:
        named = [(n, _chosen(spec, n, o), w) for n, o, w in named]
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
        for seed in seeds:
            full = {**base, **overrides, "train.seed": seed}
            if spec.bases_per_seed:
                full["train.bases_seed"] = seed
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
            label = name if len(seeds) == 1 else f"{name}-s{seed}"
            described = meta.get(name, {})
            row, other = described.get("paper_row"), described.get("compare_to")
            claims = tuple(str(c) for c in described.get("claims") or ())
            variants.append(Variant(label, config, overrides, seed, name, row, other, claims))
    problems += _no_effect_fields(variants, leaves(spec.base), named, spec.scale, lines)
    wheres = {name: where for name, _, where in named}
    problems += _same_experiments(variants, wheres, spec.scale, lines)
    problems += _worker_problems(spec.resources, variants, lines)
    if spec._check_paths:  # like weights, a judge key must be here before compute starts
        problems += _missing_judge_keys(variants, lines)
        if not problems:  # what the stages will read, once the configs themselves are sound
            problems += _preflight(variants, named, lines)
    return variants, problems


TUNING_SPLIT = {"eval.split": "validation"}  # a tuning candidate reads no test question


def _chosen(spec: SweepSpec, name: str, overrides: dict) -> dict:
    """A variant's overrides with the values tuning chose: its own, or, when the baseline
    was tuned and it was not, the baseline's under what it sets itself."""
    if name in spec._choices:
        return {**overrides, **spec._choices[name]}
    if spec.tune is None or name in spec.tune.variants:  # tuned, its choice still to come
        return overrides
    return {**spec._choices.get(spec.baseline, {}), **overrides}


def _tuning_candidates(spec: SweepSpec, named: list) -> tuple[list, list[int]]:
    """Every tuned variant with each candidate, evaluated on the validation split, and the
    seeds the choice is made on."""
    tune = spec.tune
    by_name = {name: (overrides, where) for name, overrides, where in named}
    candidates = [
        (f"{name}.tune{i}", {**by_name[name][0], **values, **TUNING_SPLIT}, ("tune", "values"))
        for name in tune.variants
        for i, values in enumerate(tune.candidates)
    ]
    return candidates, spec.tuning_seeds


def _tune_problems(spec: SweepSpec, base: dict, named: list, lines: dict) -> list[Problem]:
    """A `tune:` section must name variants of the sweep, candidates of one length whose
    every value makes a valid config of each, fields that change a result."""
    tune = spec.tune
    if tune is None:
        return []
    where = ("tune",)
    problems = []
    names = {name: overrides for name, overrides, _ in named}
    unknown = [v for v in tune.variants if v not in names]
    if unknown:
        problems.append(
            Problem(
                "tune.variants",
                f"{', '.join(map(repr, unknown))} not a variant of this sweep; choose from: "
                f"{first_names(list(names))}",
                line_of(lines, (*where, "variants")),
            )
        )
    overlap = sorted(set(tune.seeds or []) & set(spec.seeds))
    if overlap:
        problems.append(
            Problem(
                "tune.seeds",
                f"{overlap} are seeds of the study too: a final run would be the candidate that "
                "won on its own luck; tune on other seeds (or leave tune.seeds out)",
                line_of(lines, (*where, "seeds")),
            )
        )
    if not tune.metric.startswith("openvqa/"):
        problems.append(
            Problem(
                "tune.metric",
                f"{tune.metric!r} is not measured on the validation split, which asks Open-VQA "
                "image questions: use openvqa/overall or a class's openvqa/<class>/acc",
                line_of(lines, (*where, "metric")),
            )
        )
    lengths = {field: len(values) for field, values in tune.values.items()}
    if len(set(lengths.values())) > 1 or min(lengths.values()) < 2:
        sizes = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        problems.append(
            Problem(
                "tune.values",
                f"needs at least two candidates, equally many for every field ({sizes})",
                line_of(lines, (*where, "values")),
            )
        )
        return problems
    for field in tune.values:
        why = None
        if field in ("train.seed", "train.bases_seed", "eval.split"):
            why = "is set by the sweep itself (seeds, the validation split)"
        else:
            try:
                if stage_of(field) is None:
                    why = "changes no result (it is how or where a run computes)"
            except KeyError:
                why = "is not a config field"
        if why:
            problems.append(
                Problem(f"tune.values.{field}", why, line_of(lines, (*where, "values"), field))
            )
    if problems:
        return problems
    for name in tune.variants:
        for values in tune.candidates:
            try:
                VariantConfig.model_validate(nest({**base, **names[name], **values}))
            except ValidationError as err:
                problems += [
                    Problem(
                        f"tune.values (variant {name})",
                        _message(e, VariantConfig, True),
                        line_of(lines, (*where, "values")),
                    )
                    for e in err.errors()
                ]
    return list({p.message: p for p in problems}.values())


def _preflight(variants: list[Variant], named: list, lines: dict) -> list[Problem]:
    """`lynx_core.checks` on every config, each finding at the line that set its field in
    the variant it concerns (else in the base)."""
    wheres = {name: (where, overrides) for name, overrides, where in named}
    problems = []
    for index, finding in preflight([v.config for v in variants]):
        where, overrides = wheres[variants[index].group]
        if not any(overlaps(k, finding.field) for k in overrides):
            where = ("base",)
        if where[0] in ("axes", "zip"):
            line, field = lines.get(where), finding.field
        else:
            line, field = line_of(lines, where, finding.field), dotted((*where, finding.field))
        problems.append(Problem(field, finding.message, line))
    return problems


def _generated_name_problems(named: list, dimensions: list, lines: dict) -> list[Problem]:
    """Names made from axis values must be names too: a label that cannot be part of one is
    told at the value that made it (a quote in a value), else the first name that is not one
    (a grid of many long labels), once."""
    problems = {}
    for dimension in dimensions:
        for label, _, where in dimension:
            if not re.fullmatch(LABEL_PATTERN, label):
                field = f"axes.{where[1]}[{where[2]}]" if where[0] == "axes" else f"zip[{where[1]}]"
                written = (*where[:-1], label)  # a label the file gives, not one made here
                if written in lines:
                    problems.setdefault(label, name_problem(label, field, lines[written]))
                    continue
                made_from = "the value written here"
                problems.setdefault(label, name_problem(label, field, lines.get(where), made_from))
    if problems:
        return list(problems.values())
    for name, _, _ in named:
        found = name_problem(name, "axes", line_of(lines, ("axes",)), "the axes' labels")
        if found is not None:
            return [found]
    return []


def _check_meta(name: str, meta: dict[str, Any], names: list[str], lines: dict) -> list[Problem]:
    problems = []
    row = meta.get("paper_row")
    if row is not None and not (isinstance(row, str) and row in paper_figures().rows):
        rows = paper_figures().rows.items()
        known = ", ".join(repr(r) for r, v in rows if v.table == "ablation")
        problems.append(
            Problem(
                f"variants.{name}.paper_row",
                f"{row!r} is not a row of the paper; its rows: 'Lynx', {known} (or a model of "
                "its Table 1, e.g. 'InstructBLIP'); leave it out for a variant the paper did "
                "not run",
                line_of(lines, ("variants", name), "paper_row"),
            )
        )
    claims = meta.get("claims")
    if claims is not None and (
        not isinstance(claims, list) or any(str(c) not in CLAIMS for c in claims)
    ):
        problems.append(
            Problem(
                f"variants.{name}.claims",
                f"{claims!r} is not a list of the findings' claims; each one of: "
                + ", ".join(f"{k} ({v})" for k, v in CLAIMS.items()),
                line_of(lines, ("variants", name), "claims"),
            )
        )
    other = meta.get("compare_to")
    if other is not None and (other == name or other not in names):
        choices = ", ".join(str(n) for n in names if n != name) or "none (add the other variant)"
        problems.append(
            Problem(
                f"variants.{name}.compare_to",
                f"{other!r} is not another variant of this sweep; choose one of: {choices}",
                line_of(lines, ("variants", name), "compare_to"),
            )
        )
    return problems


def _no_effect_fields(
    variants: list[Variant], base: dict, named: list, scale: str, lines: dict
) -> list[Problem]:
    """Fields the sweep sets where they cannot act: a variant's wherever it cannot, the
    base's where it acts in no variant at all."""
    config = {v.group: v.config for v in variants}
    idle_in: dict[str, set[str]] = {}  # base field → variants where it does nothing
    problems: dict[tuple, Problem] = {}
    for name, overrides, where in named:
        if name not in config:
            continue
        for field in {*overrides, *base}:
            rule = next((r for r in NO_EFFECT if field.startswith(r.prefixes)), None)
            if rule is None or not rule.idle(config[name]):
                continue
            if field in overrides:
                problems[where, field] = _no_effect(where, field, rule, scale, lines)
            else:
                idle_in.setdefault(field, set()).add(name)
    for field, names in idle_in.items():
        if names == set(config):
            rule = next(r for r in NO_EFFECT if field.startswith(r.prefixes))
            problems[("base",), field] = _no_effect(("base",), field, rule, scale, lines)
    return list(problems.values())


def _no_effect(where: tuple, field: str, rule: NoEffect, scale: str, lines: dict) -> Problem:
    return Problem(
        f"{'.'.join(map(str, where))}.{field}",
        f"has no effect ({rule.why}), so it would not change the experiment at scale "
        f"{scale!r}; remove it, or move it into a `scales: {{toy: ...}}` section",
        line_of(lines, where, field),
    )


def result_key(config: VariantConfig) -> str:
    """A hash of the fields that change a result (`lynx_core.stages`): equal for two configs
    that differ only in how the work is done (device, ZeRO, caching, checkpoint cadence)."""
    flat = flatten(config.model_dump(mode="json"))
    fields = {k: v for k, v in sorted(flat.items()) if stage_of(k) is not None}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _same_experiments(
    variants: list[Variant], wheres: dict, scale: str, lines: dict
) -> list[Problem]:
    """Two variants equal on every field that changes a result would run, and report, one
    experiment twice."""
    first: dict[tuple[int, str], str] = {}
    problems = []
    for variant in variants:
        other = first.setdefault((variant.seed, result_key(variant.config)), variant.group)
        if other != variant.group:
            where = wheres[variant.group]
            fix = (
                "make the axis values differ (values equal at this scale, or an axis and a "
                "zip group setting one section)"
                if where[0] == "axes"
                else f"make them differ, e.g. with a value for this scale under "
                f"scales.{scale}.variants.{variant.group}"
            )
            problems.append(
                Problem(
                    ".".join(map(str, where)),
                    f"variants {other!r} and {variant.group!r} are the same experiment at "
                    f"scale {scale!r} (equal on every field that changes a result); {fix}",
                    line_of(lines, where),
                )
            )
    return list({p.message: p for p in problems}.values())  # once per pair, not per seed


def first_names(names: list[str]) -> str:
    """The first four names of a list, and '…' if there are more."""
    return f"{', '.join(names[:4])}{' …' if len(names) > 4 else ''}"


def _worker_problems(resources: Resources, variants: list[Variant], lines: dict) -> list[Problem]:
    """A stage's global micro-batch is split over its workers: it must split evenly, or the
    workers would wait for one another every step. A worker drives one GPU (or none): two
    on one shared GPU fail in NCCL, and a second GPU of a worker would sit idle."""
    problems = []
    for stage in ("stage1", "stage2", "eval"):
        ask = resources.of(stage)
        workers = ask.workers
        if workers > 1 and ask.gpus not in (0, 1):
            problems.append(
                Problem(
                    f"resources.{stage}.gpus",
                    f"is {ask.gpus:g} per worker with {workers} workers: each data-parallel "
                    "worker drives one GPU; set gpus: 1 (or 0 for CPU workers) and more workers",
                    line_of(lines, ("resources", stage, "gpus"))
                    or line_of(lines, ("resources", stage))
                    or line_of(lines, ("resources", "gpus")),
                )
            )
        if stage == "eval":  # its batches are dealt out whole: any number of workers
            continue
        uneven = [v.name for v in variants if getattr(v.config.train, stage).batch_size % workers]
        if workers > 1 and uneven:
            problems.append(
                Problem(
                    f"resources.{stage}.workers",
                    f"is {workers}, but train.{stage}.batch_size (the global micro-batch the "
                    f"workers share) does not divide by it for {first_names(uneven)}; make it "
                    f"a multiple of {workers}",
                    line_of(lines, ("resources", stage, "workers")),
                )
            )
    return problems


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


Option = tuple[str, dict[str, Any], tuple]  # (label, dotted overrides, where in the file)


def _grid_dimensions(spec: SweepSpec, lines: dict) -> tuple[list[list[Option]], list[Problem]]:
    """One dimension per axis and per zip group; their product is the grid."""
    dimensions = [
        [
            (label, leaves({axis: value}), ("axes", axis, i))
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
                    leaves({key: labelled[key][i][1] for key in group}),
                    ("zip", g, next(iter(group)), i),
                )
                for i in range(next(iter(lengths.values()), 0))
            ]
        )
    return dimensions, problems


def _label_lines(spec: SweepSpec, lines: dict) -> dict:
    """The lines of labelled values by their place in the grid, as unlabelled ones have
    them: `("axes", field, 0)` for `axes: {field: {low: 32, …}}`, the same in zip groups."""
    out = {}
    for axis, values in spec.axes.items():
        for i, label in enumerate(values if isinstance(values, dict) else ()):
            out[("axes", axis, i)] = lines.get(("axes", axis, label))
    for g, group in enumerate(spec.zip):
        for key, values in group.items():
            for i, label in enumerate(values if isinstance(values, dict) else ()):
                out[("zip", g, key, i)] = lines.get(("zip", g, key, label))
    return {k: v for k, v in out.items() if v is not None}


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


def _check(
    base: dict, overrides: dict, where: tuple, lines: dict, check_paths: bool, known: set
) -> list[Problem]:
    """Validate a variant (base+overrides); report only the errors its overrides cause: an
    error the base alone has too (`known`: their signatures) is told once, under `base`."""
    if not overrides:
        return []  # the variant is the base: its problems are reported once, under base
    errors = _errors(nest({**base, **overrides}), check_paths)
    return _attributed(errors, overrides, where, lines, known)


def _attributed(
    errors: list[dict], own: dict, where: tuple, lines: dict, known: set
) -> list[Problem]:
    """Each error as a problem of the field in `own` (dotted field → value) that it is
    about, at that field's line; errors of no field of `own`, or `known`, are left out
    (another section's to tell), except in the base, which tells all of its own."""
    found = []
    for error in errors:
        loc = ".".join(str(p) for p in error["loc"])
        keys = [k for k in own if overlaps(k, loc)]
        if where != ("base",) and (not keys or _signature(error) in known):
            continue  # caused by the base: reported once, under base
        named = [k for k in keys if k.removeprefix(loc).lstrip(".") in error["msg"]]
        key = (named or keys or [""])[0]  # the field the message names, if it names one
        found.append(_problem(error, VariantConfig, where, lines, (key,)))
    return found


def _errors(nested: dict, check_paths: bool) -> list[dict]:
    """The schema's errors of a config as written, in pydantic's form, and, with
    `check_paths`, a missing local path as one more (`lynx_core.checks.missing_paths`)."""
    try:
        VariantConfig.model_validate(nested)
        errors = []
    except ValidationError as err:
        errors = err.errors()
    for finding in missing_paths(nested) if check_paths else []:
        loc = tuple(int(p) if p.isdigit() else p for p in finding.field.split("."))
        value = nested
        for part in loc:
            value = value[part]
        errors.append({"loc": loc, "msg": finding.message, "type": "path_missing", "input": value})
    return errors


def _signature(error: dict) -> tuple:
    return error["loc"], error["msg"]


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
    if error["type"] == "model_type":  # a value where a section of fields goes
        section = _MODELS.get((error.get("ctx") or {}).get("class_name", ""))
        fields = ", ".join(section.model_fields) if section else "its fields"
        return f"must be a mapping of {fields}; not {error.get('input')!r:.60}"
    text = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    where = ".".join(map(str, loc))
    suffix = f" (got {got!r})" if not isinstance(got, dict) else ""
    return f"{where}: {text}{suffix}" if where and with_loc else f"{text}{suffix}"


def _all_models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    found = {model.__name__: model}
    for sub in model.__subclasses__():
        found |= _all_models(sub)
    return found


_MODELS = _all_models(StrictModel)  # class name → config model, for messages


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name, f in model.model_fields.items() if not f.exclude]
