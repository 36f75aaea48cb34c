"""Checks of what a sweep file names before its variants are built: the tuning section's variants,
seeds, metric and candidates; a variant's `paper_row`, `claims` and `compare_to`; the names
made from axis values. Each returns problems at their places in the file."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ablations.sweep.checks import (
    LABEL_PATTERN,
    name_problem,
)
from ablations.sweep.errors import Problem, at, first_names
from ablations.sweep.reference import CLAIMS, paper_figures
from ablations.sweep.schema_errors import schema_message
from lynx_core.config import VariantConfig, nest
from lynx_core.stages import stage_of

if TYPE_CHECKING:  # annotations only: the spec runs these checks
    from ablations.sweep.spec import SweepSpec


def label_written(spec: SweepSpec, where: tuple, label: str) -> bool:
    """Whether a grid value's label is the file's own (`axes: {field: {label: value}}`) rather
    than one made from the value; `where` is the value's place, ("axes", field, i) or
    ("zip", group, first field, i)."""
    values = spec.axes[where[1]] if where[0] == "axes" else spec.zip[where[1]][where[2]]
    return isinstance(values, dict) and label in values


def tune_problems(spec: SweepSpec, base: dict, named: list) -> list[Problem]:
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
                at=at((*where, "variants")),
            )
        )
    overlap = sorted(set(tune.seeds or []) & set(spec.all_seeds))
    if overlap:
        problems.append(
            Problem(
                "tune.seeds",
                f"{overlap} are seeds of the study too: a final run would be the candidate that "
                "won on its own luck; tune on other seeds (or leave tune.seeds out)",
                at=at((*where, "seeds")),
            )
        )
    if not tune.metric.startswith("openvqa/"):
        problems.append(
            Problem(
                "tune.metric",
                f"{tune.metric!r} is not measured on the validation split, which asks Open-VQA "
                "image questions: use openvqa/overall or a class's openvqa/<class>/acc",
                at=at((*where, "metric")),
            )
        )
    lengths = {field: len(values) for field, values in tune.values.items()}
    if len(set(lengths.values())) > 1 or min(lengths.values()) < 2:
        sizes = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        problems.append(
            Problem(
                "tune.values",
                f"needs at least two candidates, equally many for every field ({sizes})",
                at=at((*where, "values")),
            )
        )
        return problems
    candidates = tune.candidates
    twice = [c for i, c in enumerate(candidates) if c in candidates[:i]]
    if twice:
        problems.append(
            Problem(
                "tune.values",
                f"candidate {twice[0]} is given twice (as written, or as equal numbers): it "
                "would run twice under two names and be chosen by which copy won; give it once",
                at=at((*where, "values")),
            )
        )
    for field in tune.values:
        why = None
        if field in ("train.seed", "train.stage2_seed", "train.bases_seed", "eval.split"):
            why = "is set by the sweep itself (seeds, the validation split)"
        else:
            try:
                if stage_of(field) is None:
                    why = "changes no result (it is how or where a run computes)"
            except KeyError:
                why = "is not a config field"
        if why:
            problems.append(Problem(f"tune.values.{field}", why, at=at((*where, "values"), field)))
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
                        schema_message(e, VariantConfig, True),
                        at=at((*where, "values")),
                    )
                    for e in err.errors()
                ]
    return list({p.message: p for p in problems}.values())


def generated_name_problems(named: list, dimensions: list, spec: SweepSpec) -> list[Problem]:
    """Names made from axis values must be names too: a label that cannot be part of one is
    told at the value that made it (a quote in a value), else the first name that is not one
    (a grid of many long labels), once."""
    problems = {}
    for dimension in dimensions:
        for label, _, where in dimension:
            if not re.fullmatch(LABEL_PATTERN, label):
                field = f"axes.{where[1]}[{where[2]}]" if where[0] == "axes" else f"zip[{where[1]}]"
                if label_written(spec, where, label):
                    place = at((*where[:-1], label))
                    problems.setdefault(label, name_problem(label, field, place))
                    continue
                made_from = "the value written here"
                problems.setdefault(label, name_problem(label, field, at(where), made_from))
    if problems:
        return list(problems.values())
    for name, _, _ in named:
        found = name_problem(name, "axes", at(("axes",)), "the axes' labels")
        if found is not None:
            return [found]
    return []


def meta_problems(name: str, meta: dict[str, Any], names: list[str]) -> list[Problem]:
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
                at=at(("variants", name), "paper_row"),
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
                at=at(("variants", name), "claims"),
            )
        )
    other = meta.get("compare_to")
    if other is not None and (other == name or other not in names):
        choices = ", ".join(str(n) for n in names if n != name) or "none (add the other variant)"
        problems.append(
            Problem(
                f"variants.{name}.compare_to",
                f"{other!r} is not another variant of this sweep; choose one of: {choices}",
                at=at(("variants", name), "compare_to"),
            )
        )
    return problems
