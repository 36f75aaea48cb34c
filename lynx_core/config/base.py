"""What every config section shares: strict validation (no unknown keys, no number read
from a switch), the marked local paths, and the dotted-path helpers sweeps and MLflow use."""

from __future__ import annotations

import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)


class MustExist:
    """Marks a path the validating machine must have (weights, data): `LocalPath`.

    The config only marks it; `lynx_core.checks.missing_paths` looks on disk, in the sweep's
    validation step, so that a config can be built and planned anywhere.
    """


LocalPath = Annotated[Path, AfterValidator(Path.expanduser), MustExist()]
"""A local file or folder the stages will read: checked to exist before compute."""


class StrictModel(BaseModel):
    """Base for all configs: unknown keys are errors, instances are immutable, and a number
    or a switch is never read from a value of another kind (pydantic alone reads `true` as
    the batch size 1 and the text 'yes' as a switch that is on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _sections_keep_their_defaults(cls, data: Any) -> Any:
        """A section given in part keeps the rest of its field's default, not its class's:
        `train.stage1: {lr: 0.01}` is stage 1's 600 steps at that rate (pydantic alone builds
        StageConfig(lr=0.01), of the class's 40 steps: a sweep setting one field would run
        another experiment than it says)."""
        if not isinstance(data, dict):
            return data
        merged = data
        for name, field in cls.model_fields.items():
            given = data.get(name)
            if isinstance(field.default, BaseModel) and isinstance(given, dict):
                kept = field.default.model_dump(exclude_defaults=True)
                if kept:
                    merged = merged if merged is not data else dict(data)
                    merged[name] = _merged(kept, given)
        return merged

    @field_validator("*", mode="before")
    @classmethod
    def _no_lax_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if typing.get_origin(annotation) is dict and isinstance(value, dict):  # data.mixture
            for item in value.values():
                _strict_scalar(item, _scalar_kinds(typing.get_args(annotation)[1]))
            return value
        return _strict_scalar(value, _scalar_kinds(annotation))


def _merged(default: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `default`, section by section."""
    out = dict(default)
    for key, value in given.items():
        inner = out.get(key)
        out[key] = (
            _merged(inner, value) if isinstance(inner, dict) and isinstance(value, dict) else value
        )
    return out


def _strict_scalar(value: Any, kinds: set[type]) -> Any:
    if isinstance(value, bool) and kinds and bool not in kinds:
        raise ValueError("expects a number, not a switch (true/false)")
    if isinstance(value, str) and kinds:
        expected = "true or false" if kinds == {bool} else "a number"
        raise ValueError(f"expects {expected}, not text (YAML 1.1's yes/no/on/off are text)")
    if isinstance(value, int | float) and not isinstance(value, bool) and kinds == {bool}:
        raise ValueError("expects true or false, not a number")
    return value


def _scalar_kinds(annotation: Any) -> set[type]:
    """{int, float, bool} ∩ what a field takes (through `X | None`); empty for other fields."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in _UNIONS else ()
    found = {a for a in (options or (annotation,)) if a in (int, float, bool)}
    others = {a for a in (options or (annotation,)) if a not in (int, float, bool, type(None))}
    return set() if others else found


_UNIONS = (typing.Union, types.UnionType)


SEED_LIMIT = 2**32  # numpy's generators take seeds below this


def must_divide(heads: int, width: int, what: str, of: str) -> None:
    if width % heads:
        raise ValueError(f"{what} ({heads}) must divide {of} ({width})")


def config_hash(config: BaseModel, length: int = 12) -> str:
    """Stable content hash of a config (key order and formatting do not matter)."""
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict → {'a.b.c': value}; used for MLflow params and override paths."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{'a.b.c': value} → nested dict; the inverse of `flatten` (later keys win)."""
    nested: dict[str, Any] = {}
    for path, value in dotted.items():
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # 'a: 1' and 'a.b: 2' together
                child = node[part] = {}
            node = child
        node[leaf] = value
    return nested
