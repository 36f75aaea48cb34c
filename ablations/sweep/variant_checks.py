"""The checks that need the expanded variants: each would otherwise run another experiment than
the one written (two variants that are one experiment, a field set where it has no effect,
workers a stage cannot use) or fail after compute started (a missing judge key, a bad file
a stage reads, a tuning section naming what does not exist). Each returns problems."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ablations.sweep.checks import (
    LABEL_PATTERN,
    name_problem,
)
from ablations.sweep.errors import Problem
from ablations.sweep.lines import dotted, line_of
from ablations.sweep.overrides import overlaps
from ablations.sweep.reference import CLAIMS, paper_figures
from ablations.sweep.resources import Resources
from ablations.sweep.schema_errors import schema_message
from ablations.sweep.variant import Variant

if TYPE_CHECKING:  # annotations only: the spec runs these checks
    from ablations.sweep.spec import SweepSpec
from lynx_core.checks import preflight
from lynx_core.config import VariantConfig, flatten, nest
from lynx_core.stages import stage_of

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


def tune_problems(spec: SweepSpec, base: dict, named: list, lines: dict) -> list[Problem]:
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
                        schema_message(e, VariantConfig, True),
                        line_of(lines, (*where, "values")),
                    )
                    for e in err.errors()
                ]
    return list({p.message: p for p in problems}.values())


def preflight_problems(variants: list[Variant], named: list, lines: dict) -> list[Problem]:
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


def generated_name_problems(named: list, dimensions: list, lines: dict) -> list[Problem]:
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


def meta_problems(name: str, meta: dict[str, Any], names: list[str], lines: dict) -> list[Problem]:
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


def no_effect_problems(
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


def same_experiment_problems(
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


def worker_problems(resources: Resources, variants: list[Variant], lines: dict) -> list[Problem]:
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


def missing_judge_keys(variants: list[Variant], lines: dict) -> list[Problem]:
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


def missing_local_paths(cfg) -> list[str]:
    """'field=path' for each local file or folder a variant names that is not here: weights,
    released benchmarks, training files, and caption files (a shard pattern counts its
    missing shards)."""
    from lynx_core.checks import local_paths
    from lynx_core.config import VariantConfig

    written = cfg.model_dump()
    missing = [f"{f}={p}" for f, p in local_paths(VariantConfig, written) if not p.exists()]
    for number, source in enumerate(cfg.data.captions.files):
        root = Path(source.media_root).expanduser() if source.media_root else None
        if root is not None and not root.exists():
            missing.append(f"data.captions.files.{number}.media_root={source.media_root}")
        absent = [p for p in source.paths if not p.exists()]
        if absent:
            of = f" ({len(absent)} of {len(source.paths)} files)" if len(source.paths) > 1 else ""
            missing.append(f"data.captions.files.{number}.path={source.path}{of}")
    return missing
