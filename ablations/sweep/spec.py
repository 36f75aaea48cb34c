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

This module is the schema and the loading; the rest of the way is its own module each:
the file's includes and scales (`files`), its shape (`checks`), the variants it expands to
(`expand`), the checks that need them (`variant_checks`), pydantic's errors as problems
(`schema_errors`), the resources a stage asks for (`resources`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from ablations.sweep.checks import (
    MAX_NAME,
    NAME_PATTERN,
    identity_problem,
    shape_problems,
)
from ablations.sweep.errors import Problem, SweepError, locate
from ablations.sweep.expand import expand_variants
from ablations.sweep.files import at_scale, read_sweep, scale_chain
from ablations.sweep.resources import Resources
from ablations.sweep.schema_errors import schema_problem
from ablations.sweep.variant import Variant
from lynx_core.config import StrictModel
from lynx_core.presets import PRESETS

__all__ = ["Problem", "SweepError", "SweepSpec", "Variant", "load_sweep"]


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
        description="the seeds the choice is made on, apart from the study's (default: "
        "`seed_count` past every seed a run has): a final run is never the candidate that won "
        "on its own luck",
    )
    seed_count: int = Field(
        1,
        ge=1,
        le=16,
        description="how many tuning seeds, when `seeds` is left out: one seed's ranking of "
        "nearby candidates is its luck as much as theirs (the mean over them decides)",
    )

    @model_validator(mode="after")
    def _seeds_or_count(self) -> TuneSpec:
        if self.seeds is not None and "seed_count" in self.model_fields_set:
            raise ValueError("give tune.seeds or tune.seed_count, not both")
        return self

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
    stage1_per_seed: bool = Field(
        True,
        description="each seed also retrains stage 1; false: a variant's seeds share one "
        "stage 1 (trained at the first seed; train.stage2_seed = the seed), so seeds vary "
        "stage 2 and evaluation only and intervals leave stage 1's variance out (at paper "
        "scale stage 1 is 120M pairs, most of the GPU-hours)",
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
        variants, problems = expand_variants(self)
        if problems:
            raise SweepError(self.source, self.locate(problems))
        return variants

    def locate(self, problems: list[Problem]) -> list[Problem]:
        """Problems of this sweep, found by their places in it, at their lines in its file."""
        return locate(problems, {**self._lines, **_label_lines(self, self._lines)})

    @property
    def checks_paths(self) -> bool:
        """Whether the local paths its variants name must exist here (False: only a plan)."""
        return self._check_paths

    @property
    def is_tuning(self) -> bool:
        """Whether this is the sweep of the tuning candidates (`tuning()`)."""
        return self._tuning

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

    def seeds_of(self, variant: str) -> list[int]:
        """A named variant's seeds: its own `seeds:` (more where its comparison is noisy), else
        the sweep's."""
        own = (self.variants.get(variant) or {}).get("seeds")
        return list(own) if own else list(self.seeds)

    @property
    def all_seeds(self) -> list[int]:
        """Every seed a run of the study has (a variant's own included)."""
        return sorted({s for name in self.variants for s in self.seeds_of(name)} | {*self.seeds})

    @property
    def tuning_seeds(self) -> list[int]:
        """The seeds the choice is made on: none of the study's, any variant's own included."""
        if self.tune is None:
            return []
        if self.tune.seeds:
            return list(self.tune.seeds)
        first = max(self.all_seeds) + 1
        return list(range(first, first + self.tune.seed_count))

    def waits_on_choice(self, group: str) -> bool:
        """Whether a variant's config (a named or an axis variant's) waits on a choice: a
        tuned one's does, and, when the baseline is tuned, every other one's, which takes the
        baseline's choice under what it sets itself (`expand.chosen_overrides`: a variant
        changes one thing against the baseline as it runs)."""
        if self.tune is None:
            return False
        return group in self.tune.variants or self.baseline in self.tune.variants

    def chooser(self, group: str) -> str | None:
        """The tuned variant whose choice a variant takes: itself when tuned, else the
        baseline when its config waits on the baseline's (`waits_on_choice`), else none. A
        variant that sets the tuned fields itself keeps its own values; see the config."""
        if self.tune is not None and group in self.tune.variants:
            return group
        return self.baseline if self.waits_on_choice(group) else None

    @property
    def choices(self) -> dict[str, dict[str, Any]]:
        """The tuned variants' chosen values, as given to `with_choices`."""
        return dict(self._choices)


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
    problems, shaped = shape_problems(raw)
    problems = locate(problems, lines)
    try:  # fields whose shape is wrong are told once, not again in the schema's words
        spec = SweepSpec.model_validate(
            {**{k: v for k, v in raw.items() if k not in shaped}, "source": str(path)}
        )
    except ValidationError as err:
        found = [schema_problem(e, SweepSpec, (), ()) for e in err.errors()]
        return None, problems + locate(found, lines)
    problems += locate(filter(None, [identity_problem(spec.name, path)]), lines)
    if problems:
        return None, problems
    spec._lines = lines
    spec._check_paths = check_paths
    spec._file_scale = file_scale
    _, problems = expand_variants(spec)
    return spec, spec.locate(problems)


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
