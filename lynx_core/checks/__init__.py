"""Checks, before any compute, of what a variant's stages will read from this machine: that
every local path it names is here, the LLM folder, the vision tower (open_clip's, timm's or a
Hugging Face folder) and the grid it can pool (`lynx_core.checks.models`), the evaluation
suite, training and caption files. Each would otherwise fail inside a trial, after training
(a bad row of the eval suite) or with an error far from its cause (adapter layer 12 of a
4-layer model). Each is bounded in time and memory: a config file is read up to a cap, a
benchmark file only if it is a regular file of sane size. A registry of checks, each a pure
function of the config and the files it names; a sweep runs them once per distinct value
they read (`ablations.sweep.variant_checks.preflight_problems`), and `missing_paths` on
every config as written (`ablations.sweep.schema_errors.config_errors`).
"""

from __future__ import annotations

import importlib.util
import json
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lynx_core.checks.findings import MAX_BENCHMARK_BYTES, Check, Finding, sane_file
from lynx_core.checks.models import llm_folder, open_clip_models, vision_tower
from lynx_core.config import MustExist, VariantConfig, flatten

__all__ = [
    "CHECKS",
    "Finding",
    "eval_suite",
    "llm_folder",
    "local_paths",
    "missing_paths",
    "open_clip_models",
    "preflight",
    "training_files",
    "vision_tower",
]


def missing_paths(written: dict[str, Any]) -> list[Finding]:
    """Every `LocalPath` a config names (nested, as written or dumped) that is not on this
    machine. It reads the values before the rest of the config validates, so a missing
    folder is told together with every other problem of a sweep file."""
    return [
        Finding(
            field,
            f"path '{path}' does not exist (relative paths start at {Path.cwd()}); put what "
            "it names there or change the path (weights and datasets are never downloaded)"
            + _how_to_get(path),
        )
        for field, path in local_paths(VariantConfig, written)
        if not path.expanduser().exists()
    ]


def _how_to_get(path: Path) -> str:
    """For a file of the data recipe (`lynx_core.data.convert.recipe`), how it is made."""
    from lynx_core.data.convert.recipe import SOURCES

    known = next((s for s in SOURCES.values() if Path(s.path) == path), None)
    if known is None:
        return ""
    made = (
        f"made by `python -m ablations data prepare {known.name}`"
        if known.stage == "stage2"
        else "fetched with img2dataset"
    )
    return (
        f"; it is the recipe's {known.name} ({known.released_as}), {made} (`make plan` says "
        "how to get every source)"
    )


def local_paths(
    model: type[BaseModel], written: Any, prefix: str = ""
) -> Iterator[tuple[str, Path]]:
    """(dotted field, path) for each value of `written` in a field the config marks
    `MustExist`, walking sections, lists of sections and optional sections; values of the
    wrong kind are the schema's to refuse, and are skipped."""
    if not isinstance(written, dict):
        return
    for name, value in written.items():
        field = model.model_fields.get(name)
        if field is None or value is None:
            continue
        dotted = f"{prefix}{name}"
        if any(isinstance(m, MustExist) for m in field.metadata) or _marked(field.annotation):
            if isinstance(value, str | Path):
                yield dotted, Path(value)
            continue
        section = _section(field.annotation)
        if section is None:
            continue
        if isinstance(value, list):  # a list of sections (`list[X]`, `list[X] | None`)
            for number, item in enumerate(value):
                yield from local_paths(section, item, f"{dotted}.{number}.")
        else:
            yield from local_paths(section, value, f"{dotted}.")


def _marked(annotation: Any) -> bool:
    """Whether `MustExist` marks the annotation or a member of it (`LocalPath | None`)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return any(isinstance(m, MustExist) for m in annotation.__metadata__)
    return any(_marked(arg) for arg in typing.get_args(annotation))


def _section(annotation: Any) -> type[BaseModel] | None:
    """The config section an annotation holds: itself, its list's items, or the section of
    an optional one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = [s for arg in typing.get_args(annotation) if (s := _section(arg)) is not None]
    return found[0] if found else None


def eval_suite(cfg: VariantConfig) -> list[Finding]:
    """A user's evaluation folder must hold at least one benchmark, and every benchmark a
    sweep names (the folder's, and released files given as `eval.openvqa_image`, …) must
    read cleanly (every row, every media path) now, not after all training."""
    from lynx_core.data.files import formats  # formats import the config
    from lynx_core.data.files.benchmarks import Benchmark, Benchmarks, configured
    from lynx_core.data.world.worldset import (
        MME_DIR,
        OPENVQA_IMAGE,
        OPENVQA_VIDEO,
        OWL_QUESTIONS,
        POPE_DIR,
        suite_benchmarks,
    )

    suite, given = cfg.eval.suite, Benchmarks()
    if suite is not None:
        if not suite.is_dir():
            return [Finding("eval.suite", f"{suite} is not a folder")]
        given = suite_benchmarks(suite)
        if not given.present():
            parts = ", ".join((OPENVQA_IMAGE, OPENVQA_VIDEO, MME_DIR, OWL_QUESTIONS, POPE_DIR))
            return [
                Finding(
                    "eval.suite",
                    f"{suite} holds no benchmark: expected at least one of {parts} (the "
                    "generated suite's layout), or name released files as eval.openvqa_image, "
                    "eval.openvqa_video, eval.mme, eval.owleval, eval.pope",
                )
            ]
    readers: dict[str, Callable[[Benchmark], Any]] = {
        "openvqa_image": lambda b: formats.load_openvqa(b.path, b.media_root),
        "openvqa_video": lambda b: formats.load_openvqa(b.path, b.media_root),
        "mme": lambda b: formats.load_mme(b.path),
        "owleval": lambda b: formats.load_owleval(b.path, b.media_root),
        "pope": lambda b: formats.load_pope(b.path, b.media_root),
    }
    found = []
    for name, benchmark in configured(cfg.eval, given).present().items():
        field = f"eval.{name}" if name in cfg.eval.released else "eval.suite"
        target = benchmark.path
        if name == "mme" and not target.is_dir():
            found.append(Finding(field, f"{target} is not a folder (MME's release folder)"))
            continue
        folder_allowed = name == "pope" and target.is_dir()  # POPE's files, or their folder
        if name != "mme" and not folder_allowed and not sane_file(target):
            found.append(
                Finding(field, f"{target} is not a regular file under {MAX_BENCHMARK_BYTES:,} B")
            )
            continue
        try:
            if not readers[name](benchmark):  # it would train every stage to score nothing
                found.append(Finding(field, f"{target} holds no questions ({_EMPTY_FIX})"))
        except formats.FormatError as err:
            found.append(Finding(field, str(err)))
        except (OSError, UnicodeDecodeError) as err:
            found.append(Finding(field, f"{target} cannot be read: {err}"))
    return found


_EMPTY_FIX = (
    "an empty benchmark would train every stage and record a NaN score; give the file its "
    "questions, or leave the benchmark out"
)


def training_files(cfg: VariantConfig) -> list[Finding]:
    """Stage 2's files of your own: a bounded sample of each one's rows and images."""
    from lynx_core.data.files.formats import FormatError  # data modules import the config
    from lynx_core.data.files.training_files import check_training_file

    found = []
    for number, file in enumerate(cfg.data.train_files):
        try:
            check_training_file(file)
        except FormatError as err:
            found.append(Finding(f"data.train_files.{number}", str(err)))
    return found


def caption_files(cfg: VariantConfig) -> list[Finding]:
    """Stage 1's files of your own: every file or shard present and readable, and a bounded
    sample of each source's pairs decodable, before any compute."""
    from lynx_core.data.files.caption_checks import check_caption_file  # it imports the config

    found = []
    for number, source in enumerate(cfg.data.captions.files):
        field = f"data.captions.files.{number}"
        problems = check_caption_file(source, max_share=cfg.train.max_bad_share)
        hint = _how_to_get(Path(source.path))  # for a recipe's source whose files are missing
        found += [
            Finding(field, problem + (hint if "do not exist" in problem else ""))
            for problem in problems
        ]
    return found


def attention_kernel(cfg: VariantConfig) -> list[Finding]:
    """flash_attention_2 is a separate package (flash-attn, built for CUDA): without it
    transformers fails only when the model is built, inside a trial."""
    if cfg.model.llm.attn_implementation != "flash_attention_2":
        return []
    if importlib.util.find_spec("flash_attn") is not None:
        return []
    return [
        Finding(
            "model.llm.attn_implementation",
            "is flash_attention_2 but the flash-attn package is not installed here; install "
            "it (`pip install flash-attn`, on a CUDA machine) or use sdpa (PyTorch's fused "
            "attention, which needs nothing more)",
        )
    ]


CHECKS: dict[str, Check] = {
    "llm folder": llm_folder,
    "vision tower": vision_tower,
    "eval suite": eval_suite,
    "training files": training_files,
    "caption files": caption_files,
    "attention kernel": attention_kernel,
}
READS: dict[str, tuple[str, ...]] = {  # the fields each check's result depends on
    "llm folder": ("model.llm.path", "model.adapters", "model.arch", "model.cross_attention"),
    "vision tower": ("model.vision", "model.connector", "model.avg_pool"),
    "eval suite": (
        "eval.suite",
        "eval.openvqa_image",
        "eval.openvqa_video",
        "eval.mme",
        "eval.owleval",
    ),
    "training files": ("data.train_files",),
    "caption files": ("data.captions.files",),
    "attention kernel": ("model.llm.attn_implementation",),
}


def preflight(configs: list[VariantConfig]) -> list[tuple[int, Finding]]:
    """(index of the first config it concerns, finding) for every check on every config,
    each check run once per distinct value of what it reads (the 88 runs of a study name one
    LLM folder)."""
    seen: set[tuple[str, str]] = set()
    found: list[tuple[int, Finding]] = []
    for index, cfg in enumerate(configs):
        flat = flatten(cfg.model_dump(mode="json"))
        for name, check in CHECKS.items():
            read = {k: v for k, v in flat.items() if k.startswith(READS[name])}
            key = (name, json.dumps(read, sort_keys=True))
            if key not in seen:
                seen.add(key)
                found += [(index, f) for f in check(cfg)]
    return found
