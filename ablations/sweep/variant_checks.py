"""The checks that need the expanded variants: each would otherwise run another experiment than
the one written (two variants that are one experiment, a field set where it has no effect,
workers a stage cannot use) or fail after compute started (a missing judge key, a bad file
a stage reads, a tuning section naming what does not exist). Each returns problems at their
places in the file; `VARIANT_CHECKS` is the registry the expansion runs, in order."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ablations.sweep.errors import Problem, at, first_names
from ablations.sweep.lines import dotted
from ablations.sweep.overrides import leaves, overlaps
from ablations.sweep.variant import Variant
from lynx_core.checks import preflight
from lynx_core.config import VariantConfig
from lynx_core.stages import CONNECTOR_SECTIONS, read_fields

if TYPE_CHECKING:  # annotations only: the spec runs these checks
    from ablations.sweep.spec import SweepSpec


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
        lambda c: not c.model.vision.toy,
        "the tower is a named one (open_clip_name, or a timm or hf family) with its own sizes",
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
        lambda c: c.model.vision.given,
        "the tower is given (open_clip_name, checkpoint, or a timm or hf family): no CLIP "
        "pretraining runs",
    ),
    *(
        NoEffect(
            (f"model.{section}.",),
            lambda c, section=section: c.model.connector != section,
            f"model.connector is not {section}: no stage reads model.{section}",
        )
        for section in CONNECTOR_SECTIONS
    ),
)


@dataclass(frozen=True)
class Expanded:
    """What the checks of a sweep's variants read: the sweep at its scale, its variants (every
    seed) and each named variant's overrides and place in the file."""

    spec: SweepSpec
    variants: list[Variant]
    named: list[tuple[str, dict[str, Any], tuple]]  # (name, dotted overrides, where)


@dataclass(frozen=True)
class VariantCheck:
    """A check of the expanded variants: problems, each at its place in the file."""

    run: Callable[[Expanded], list[Problem]]
    local: bool = False  # reads this machine (environment, files): only where paths are checked
    last: bool = False  # only once the sweep has no other problem: it reads what configs name


def preflight_problems(expanded: Expanded) -> list[Problem]:
    """`lynx_core.checks` on every config, each finding at the line that set its field in
    the variant it concerns (else in the base)."""
    wheres = {name: (where, overrides) for name, overrides, where in expanded.named}
    variants = expanded.variants
    problems = []
    for index, finding in preflight([v.config for v in variants]):
        where, overrides = wheres[variants[index].group]
        if not any(overlaps(k, finding.field) for k in overrides):
            where = ("base",)
        if where[0] in ("axes", "zip"):
            place, field = at(where), finding.field
        else:
            place, field = at(where, finding.field), dotted((*where, finding.field))
        problems.append(Problem(field, finding.message, at=place))
    return problems


def no_effect_problems(expanded: Expanded) -> list[Problem]:
    """Fields the sweep sets where they cannot act: a variant's wherever it cannot, the
    base's where it acts in no variant at all."""
    base, scale = leaves(expanded.spec.base), expanded.spec.scale
    config = {v.group: v.config for v in expanded.variants}
    idle_in: dict[str, set[str]] = {}  # base field → variants where it does nothing
    problems: dict[tuple, Problem] = {}
    for name, overrides, where in expanded.named:
        if name not in config:
            continue
        for field in {*overrides, *base}:
            rule = next((r for r in NO_EFFECT if field.startswith(r.prefixes)), None)
            if rule is None or not rule.idle(config[name]):
                continue
            if field in overrides:
                problems[where, field] = _no_effect(where, field, rule, scale)
            else:
                idle_in.setdefault(field, set()).add(name)
    for field, names in idle_in.items():
        if names == set(config):
            rule = next(r for r in NO_EFFECT if field.startswith(r.prefixes))
            problems[("base",), field] = _no_effect(("base",), field, rule, scale)
    return list(problems.values())


def _no_effect(where: tuple, field: str, rule: NoEffect, scale: str) -> Problem:
    return Problem(
        f"{'.'.join(map(str, where))}.{field}",
        f"has no effect ({rule.why}), so it would not change the experiment at scale "
        f"{scale!r}; remove it, or move it into a `scales: {{toy: ...}}` section",
        at=at(where, field),
    )


def result_key(config: VariantConfig) -> str:
    """A hash of the fields that change a result (`lynx_core.stages`): equal for two configs
    that differ only in how the work is done (device, ZeRO, caching, checkpoint cadence)."""
    fields = read_fields(config)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def same_experiment_problems(expanded: Expanded) -> list[Problem]:
    """Two variants equal on every field that changes a result would run, and report, one
    experiment twice."""
    wheres = {name: where for name, _, where in expanded.named}
    scale = expanded.spec.scale
    first: dict[tuple[int, str], str] = {}
    problems = []
    for variant in expanded.variants:
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
                    at=at(where),
                )
            )
    return list({p.message: p for p in problems}.values())  # once per pair, not per seed


def worker_problems(expanded: Expanded) -> list[Problem]:
    """A stage's global micro-batch is split over its workers: it must split evenly, or the
    workers would wait for one another every step. A worker drives one GPU (or none): two
    on one shared GPU fail in NCCL, and a second GPU of a worker would sit idle."""
    problems = []
    variants = expanded.variants
    for stage in ("stage1", "stage2", "eval"):
        ask = expanded.spec.resources.of(stage)
        workers = ask.workers
        if workers > 1 and ask.gpus not in (0, 1):
            problems.append(
                Problem(
                    f"resources.{stage}.gpus",
                    f"is {ask.gpus:g} per worker with {workers} workers: each data-parallel "
                    "worker drives one GPU; set gpus: 1 (or 0 for CPU workers) and more workers",
                    at=(
                        *at(("resources", stage, "gpus")),
                        *at(("resources", stage)),
                        *at(("resources", "gpus")),
                    ),
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
                    at=at(("resources", stage, "workers")),
                )
            )
    return problems


def missing_judge_keys(expanded: Expanded) -> list[Problem]:
    """A GPT judge's key must be here before compute starts, as weights must."""
    missing: dict[str, list[str]] = {}
    for v in expanded.variants:
        env = v.config.eval.gpt_judge.api_key_env
        if v.config.eval.judge == "gpt" and not os.environ.get(env):
            missing.setdefault(env, []).append(v.name)
    return [
        Problem(
            "eval.judge",
            f"judge 'gpt' needs an API key in ${env} (variants {', '.join(names)}); export it, "
            "or set eval.judge: rule for the offline judge",
            at=at(("base",)),
        )
        for env, names in missing.items()
    ]


# the checks of a sweep's variants, in the order they are told
VARIANT_CHECKS: dict[str, VariantCheck] = {
    "no_effect": VariantCheck(no_effect_problems),
    "same_experiment": VariantCheck(same_experiment_problems),
    "workers": VariantCheck(worker_problems),
    "judge_keys": VariantCheck(missing_judge_keys, local=True),
    "preflight": VariantCheck(preflight_problems, local=True, last=True),
}


def variant_problems(expanded: Expanded, check_paths: bool, sound: bool) -> list[Problem]:
    """Every check of `VARIANT_CHECKS` that applies: the local ones where the sweep checks
    its paths, the last ones while it is `sound` and no check before them found a problem."""
    problems: list[Problem] = []
    for check in VARIANT_CHECKS.values():
        if (check.local and not check_paths) or (check.last and (problems or not sound)):
            continue
        problems += check.run(expanded)
    return problems
