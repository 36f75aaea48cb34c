"""Pydantic's validation errors as a sweep's problems: the field as written, its place, what is
allowed (the field's description and choices), each error once."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from ablations.sweep.errors import Problem, at
from lynx_core.checks import missing_paths
from lynx_core.config import StrictModel, VariantConfig


def config_errors(nested: dict, check_paths: bool) -> list[dict]:
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


def error_signature(error: dict) -> tuple:
    return error["loc"], error["msg"]


def schema_problem(error: dict, model: type[BaseModel], where: tuple, key: tuple) -> Problem:
    loc = ".".join(str(p) for p in error["loc"])
    field = ".".join([*(str(w) for w in where), *(k for k in key if k)]) or loc
    if where[:1] == ("axes",) and len(where) == 3:
        place = at(where)
        field = f"axes.{where[1]}[{where[2]}]"
    elif where[:1] == ("zip",) and len(where) == 4:
        place = at(where)
        field = f"zip[{where[1]}][{where[3]}].{key[0] or loc}"
    else:
        place = at(where, key[0] if key else loc)
    return Problem(field, schema_message(error, model), at=place)


def schema_message(error: dict, model: type[BaseModel], with_loc: bool = False) -> str:
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
