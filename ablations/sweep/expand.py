"""A sweep's variants: the base laid over the scale's preset, the grid's axes and zipped groups
crossed, the named variants, the seeds, the tuning candidates or the tuned choices; every
problem found on the way, each at its place in the file (`ablations.sweep.errors`). Pure
functions of the sweep: the file's lines are looked up once, by the caller."""

from __future__ import annotations

import collections
import itertools
import math
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ablations.sweep.checks import (
    META,
    case_clashes,
    name_problem,
)
from ablations.sweep.errors import Problem, at
from ablations.sweep.named_checks import generated_name_problems, meta_problems, tune_problems
from ablations.sweep.overrides import leaves, overlaps
from ablations.sweep.schema_errors import (
    config_errors,
    error_signature,
    schema_message,
    schema_problem,
)
from ablations.sweep.variant import Variant
from ablations.sweep.variant_checks import Expanded, variant_problems
from lynx_core.config import VariantConfig, nest
from lynx_core.presets import PRESETS

if TYPE_CHECKING:  # annotations only: SweepSpec.expand calls this module
    from ablations.sweep.spec import SweepSpec

Option = tuple[str, dict[str, Any], tuple]  # (label, dotted overrides, where in the file)
# trials (variants × seeds) an axes grid may make: more is a typo or a sweep to split; the
# count is made before the grid, which would otherwise fill memory at validation
MAX_TRIALS = 10_000


def expand_variants(spec: SweepSpec) -> tuple[list[Variant], list[Problem]]:
    """The sweep's variants, and every problem of them, each at its place in the file."""
    problems: list[Problem] = []
    check_paths = spec.checks_paths  # whether the local paths the variants name are looked for
    if spec.scale not in PRESETS:
        allowed = ", ".join(sorted(PRESETS))
        msg = f"unknown scale preset {spec.scale!r}; allowed: {allowed}"
        problems.append(Problem("scale", msg, at=at(("scale",))))
        return [], problems
    preset = PRESETS[spec.scale]
    base = {**preset.overrides, **leaves(spec.base)}
    base_errors = config_errors(
        nest(base), check_paths
    )  # once: told here, and set apart in variants
    problems += attributed_problems(base_errors, base, ("base",), set())
    known = {error_signature(e) for e in base_errors}

    named: list[tuple[str, dict[str, Any], tuple]] = []
    dimensions, found = _grid_dimensions(spec)
    problems += found
    for dimension in dimensions:
        for _, overrides, where in dimension:
            problems += override_problems(base, overrides, where, check_paths, known)
    grid = math.prod(len(d) for d in dimensions) if dimensions else 0
    named_trials = sum(len(spec.seeds_of(name)) for name in spec.variants)
    trials = grid * len(spec.seeds) + named_trials or len(spec.seeds)  # or the base's
    if trials > MAX_TRIALS:  # counted before the grid is made
        # alone: the checks that follow would list variants the grid never made
        return [], [_too_many(grid, len(spec.variants), len(spec.seeds), trials, dimensions)]
    if dimensions:
        for combo in itertools.product(*dimensions):
            name = "-".join(label for label, _, _ in combo)
            overrides = {k: v for _, option, _ in combo for k, v in option.items()}
            named.append((name, overrides, ("axes",)))
        problems += generated_name_problems(named, dimensions, spec)
    meta: dict[str, dict[str, Any]] = {}
    for name, written in spec.variants.items():
        where = ("variants", name)
        bad_name = name_problem(str(name), f"variants.{name}", at(where))
        problems += [bad_name] if bad_name else []
        overrides = leaves(written or {})
        meta[name] = {k: overrides.pop(k) for k in META if k in overrides}
        problems += override_problems(base, overrides, where, check_paths, known)
        named.append((name, overrides, where))
    if not named:
        named.append(("base", {}, ("base",)))
    names = [name for name, _, _ in named]
    problems += [
        Problem(
            "variants",
            f"variants {a!r} and {b!r} differ only in case: one folder where file names "
            "ignore case (macOS, Windows); rename one",
            at=at(("variants", b)),
        )
        for a, b in case_clashes(list(dict.fromkeys(names)))
    ]
    for name, described in meta.items():
        problems += meta_problems(name, described, names)
    if spec.baseline is not None and spec.baseline not in names:
        problems.append(
            Problem(
                "baseline",
                f"{spec.baseline!r} is not a variant; choose one of: {', '.join(names)}",
                at=at(("baseline",)),
            )
        )
    problems += tune_problems(spec, base, named)
    if problems:  # per-override errors first: they name the exact line to fix
        return [], problems

    tuning: list[int] = []
    if spec.is_tuning:
        named, tuning = tuning_candidates(spec, named)
    elif spec.choices:
        named = [(n, chosen_overrides(spec, n, o), w) for n, o, w in named]
    variants, seen = [], {}
    for name, overrides, where in named:
        if name in seen:
            problems.append(
                Problem(
                    ".".join(map(str, where)),
                    f"variant name {name!r} is used twice; rename one (names must be unique)",
                    at=at(where),
                )
            )
            continue
        seen[name] = overrides
        seeds = tuning or spec.seeds_of(name)  # a variant's own seeds hold the sweep's
        several = len(seeds) > 1 or (not tuning and len(spec.seeds) > 1)
        for seed in seeds:
            full = {**base, **overrides, "train.seed": seed}
            if spec.bases_per_seed:
                full["train.bases_seed"] = seed
            if not spec.stage1_per_seed:  # one stage 1 for every seed: the sweep's first
                # (a tuning candidate's too: it tunes stage 2 on its variant's stage 1)
                full.update({"train.seed": spec.seeds[0], "train.stage2_seed": seed})
            try:
                config = VariantConfig.model_validate(nest(full))
            except ValidationError as err:
                problems += [
                    Problem(
                        f"variant {name}",
                        schema_message(e, VariantConfig, True),
                        at=at(where),
                    )
                    for e in err.errors()
                ]
                break
            label = f"{name}-s{seed}" if several else name
            described = meta.get(name, {})
            row, other = described.get("paper_row"), described.get("compare_to")
            claims = tuple(str(c) for c in described.get("claims") or ())
            variants.append(Variant(label, config, overrides, seed, name, row, other, claims))
    problems += _run_name_clashes(variants, {name: where for name, _, where in named})
    expanded = Expanded(spec, variants, named)
    problems += variant_problems(expanded, check_paths, sound=not problems)
    return variants, problems


def _run_name_clashes(variants: list[Variant], wheres: dict[str, tuple]) -> list[Problem]:
    """A run named twice: a variant's own seeds name its runs `<variant>-s<seed>` even in a
    one-seed sweep, where another variant may already be called that."""
    counts = collections.Counter(v.name for v in variants)
    return [
        Problem(
            ".".join(map(str, wheres[v.group])),
            f"run name {v.name!r} is also variant {v.group!r}'s run at seed {v.seed}; rename "
            "one of the two variants",
            at=at(wheres[v.group]),
        )
        for v in variants
        if counts[v.name] > 1 and v.name != v.group
    ]


TUNING_SPLIT = {"eval.split": "validation"}  # a tuning candidate reads no test question


def chosen_overrides(spec: SweepSpec, name: str, overrides: dict) -> dict:
    """A variant's overrides with the values tuning chose: its own, or, when the baseline
    was tuned and it was not, the baseline's under what it sets itself."""
    choices = spec.choices
    if name in choices:
        return {**overrides, **choices[name]}
    if spec.tune is None or name in spec.tune.variants:  # tuned, its choice still to come
        return overrides
    return {**choices.get(spec.baseline, {}), **overrides}


def _too_many(
    grid: int, named: int, seeds: int, trials: int, dimensions: list[list[Option]]
) -> Problem:
    """The refusal, at the factor that makes the count: the axes, the named variants or
    the seeds, with the fix that applies to it."""
    count = max(grid + named, 1)
    made = (
        [f"{' × '.join(str(len(d)) for d in dimensions)} = {grid:,} from the axes"] if grid else []
    )
    made += [f"{named:,} named"] if named else []
    largest = max((grid, "axes"), (named, "variants"), (seeds, "seeds"))[1]
    fix = {
        "axes": "pair values with `zip:` instead of crossing them, or split the sweep",
        "variants": "split the sweep into several files",
        "seeds": "fewer seeds: the evidence table says how many decide each comparison",
    }[largest]
    own = " (a variant with its own seeds: as many as it lists)" if trials != count * seeds else ""
    return Problem(
        largest,
        f"{count:,} variant(s) ({', '.join(made) or 'the base'}) × {seeds:,} seed(s){own}"
        f" = {trials:,} trials: more than {MAX_TRIALS:,} (counted before they are "
        f"expanded); {fix}",
        at=at((largest,)),
    )


def tuning_candidates(spec: SweepSpec, named: list) -> tuple[list, list[int]]:
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


def _grid_dimensions(spec: SweepSpec) -> tuple[list[list[Option]], list[Problem]]:
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
                Problem(f"zip[{g}]", f"lists must have equal lengths ({sizes})", at=at(("zip", g)))
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


def override_problems(
    base: dict, overrides: dict, where: tuple, check_paths: bool, known: set
) -> list[Problem]:
    """Validate a variant (base+overrides); report only the errors its overrides cause: an
    error the base alone has too (`known`: their signatures) is told once, under `base`."""
    if not overrides:
        return []  # the variant is the base: its problems are reported once, under base
    errors = config_errors(nest({**base, **overrides}), check_paths)
    return attributed_problems(errors, overrides, where, known)


def attributed_problems(errors: list[dict], own: dict, where: tuple, known: set) -> list[Problem]:
    """Each error as a problem of the field in `own` (dotted field → value) that it is
    about, at that field's place; errors of no field of `own`, or `known`, are left out
    (another section's to tell), except in the base, which tells all of its own."""
    found = []
    for error in errors:
        loc = ".".join(str(p) for p in error["loc"])
        keys = [k for k in own if overlaps(k, loc)]
        if where != ("base",) and (not keys or error_signature(error) in known):
            continue  # caused by the base: reported once, under base
        named = [k for k in keys if k.removeprefix(loc).lstrip(".") in error["msg"]]
        key = (named or keys or [""])[0]  # the field the message names, if it names one
        found.append(schema_problem(error, VariantConfig, where, (key,)))
    return found
