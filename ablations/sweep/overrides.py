"""Overrides as a sweep writes them → `{dotted config field: value}`, one entry per field.

A sweep may name a field dotted (`model.vision.image_size: 64`) or nested (`model: {vision:
{image_size: 64}}`); both are the same field. A field whose value is itself a mapping
(`data.mixture`, `train.deepspeed.config`) is one value: a later one replaces an earlier one
whole and is never merged key by key, because a mixture lists every task it trains. The
`VariantConfig` schema says which is which. Not here: validating the values.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from lynx_core.config import VariantConfig


def _submodel(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    """The config model of field `name` of `model` (through `X | None`), if it is one."""
    field = model.model_fields.get(name)
    if field is None:
        return None
    annotation = field.annotation
    options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for option in options:
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def leaves(written: dict, model: type[BaseModel] = VariantConfig) -> dict:
    """Every field `written` sets, by its dotted path; mappings that are config sections are
    opened, mappings that are values (and unknown keys, for validation to report) are not.
    A field written twice keeps its last value (`written_twice` tells)."""
    return dict(_written(written, model, ""))


def written_twice(written: dict, model: type[BaseModel] = VariantConfig) -> list[tuple[str, str]]:
    """(field, why) for each field one mapping of overrides sets twice: dotted and nested
    (`model.arch: x` beside `model: {arch: y}`), or whole and inside (`data.mixture: {...}`
    beside `data.mixture.caption: 2`). `leaves` would keep one silently."""
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for path, _ in _written(written, model, ""):
        if path in seen:
            found.append((path, "is set twice (dotted and nested); keep one"))
        seen.add(path)
    for path in sorted(seen):
        inner = sorted(p for p in seen if p.startswith(path + "."))
        if inner:
            found.append(
                (path, f"is set whole and also in part ({', '.join(inner)}); keep one of them")
            )
    return found


def overlaps(a: str, b: str) -> bool:
    """Whether two dotted fields set one value: equal, or one a section holding the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def section_fields(path: str, model: type[BaseModel] = VariantConfig) -> list[str] | None:
    """The fields of the config section at dotted `path`, or None if it is not a section."""
    node = _section_at(model, path)
    return list(node.model_fields) if node is not None else None


def _written(written: dict, model: type[BaseModel] | None, prefix: str):
    """(dotted path, value) of every field `written` sets, in the order written."""
    for key, value in written.items():
        node = _section_at(model, str(key))
        path = f"{prefix}{key}"
        if node is not None and isinstance(value, dict) and value:  # ({}: defaults, whole)
            yield from _written(value, node, f"{path}.")
        else:
            yield path, value


def _section_at(model: type[BaseModel] | None, dotted: str) -> type[BaseModel] | None:
    """The config model of the section at `dotted` under `model`, if it is one."""
    for part in dotted.split("."):
        model = _submodel(model, part) if model is not None else None
    return model
