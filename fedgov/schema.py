"""Validating a parsed document against a strict pydantic schema, with errors a user can act on.

A document's schema is a tree of :class:`StrictModel` classes (unknown keys rejected, no
type coercion: ``'false'`` is not a boolean, ``'10'`` is not a number, an int is accepted
where a float is expected). :func:`validate` turns pydantic's ``ValidationError`` into one
:class:`~fedgov.errors.ConfigError` with a line per problem::

    silo.yaml: privacy.min_cel_count: unknown key (did you mean 'min_cell_count'?); allowed: ...
    silo.yaml: aggregator.insecure: must be true or false (a YAML boolean, unquoted), got ...

Each line names the file, the key path (``models[1].input``), what is wrong and what is
allowed; never pydantic's URLs or reprs. Read the file with
:func:`fedgov.documents.load_document` first, then validate what it returns.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Tag, ValidationError
from pydantic_core import ErrorDetails

from fedgov.documents import did_you_mean
from fedgov.errors import ConfigError
from fedgov.limits import identifier_problem

__all__ = ["Identifier", "StrictModel", "describe", "error_lines", "validate"]

M = TypeVar("M", bound=BaseModel)


def _identifier(value: str) -> str:
    problem = identifier_problem(value)
    if problem:
        raise ValueError(f"not a valid identifier: {problem}")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
"""An id the aggregator accepts (silo, jurisdiction, model...): the rules of
:func:`fedgov.limits.identifier_problem`, checked when the document is read rather than
when the first call is refused."""


class StrictModel(BaseModel):
    """Base of every document schema: unknown keys rejected, strict types, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def validate(
    model: type[M], doc: object, *, source: str, error: type[ConfigError] = ConfigError
) -> M:
    """``model`` validated from ``doc``, or ``error`` listing every problem, one per line."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        lines = error_lines(exc, model)
    raise error("\n".join(f"{source}: {line}" for line in lines))


def error_lines(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """``key.path: what is wrong`` for each error of ``exc`` (raised validating ``model``)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        if err["type"] == "invalid_key":  # the location ends with the offending key itself
            loc = loc[:-1]
        loc = _without_tags(model, loc)
        path = _path(loc, last_is_key=err["type"] == "extra_forbidden")
        message = _message(err, model)
        if not path:
            message = _message_at_top(err) or message
        out.append(f"{path}: {message}" if path else message)
    return out


def _path(loc: Sequence[int | str], *, last_is_key: bool) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int) and not (last_is_key and i == len(loc) - 1):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(value: Any) -> str:
    """A value as a user wrote it in YAML: ``the string 'false'``, ``the number 5``."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {_short(value)!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__} ({_short(str(value))})"


def _number(value: Any) -> Any:
    """``0`` for ``0.0``: a bound is shown as the user would write it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# YAML 1.1 (PyYAML) reads an exponent without a dot, 1e-3, as a string.
_EXPONENT = re.compile(r"[-+]?\d+[eE][-+]?\d+")


def _message(err: ErrorDetails, model: type[BaseModel]) -> str:
    kind, value, ctx = err["type"], err["input"], err.get("ctx", {})
    got = describe(value)
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, _without_tags(model, err["loc"][:-1]))
        key = str(err["loc"][-1])
        hint = did_you_mean(key, allowed)
        return f"unknown key{hint}; allowed: {', '.join(allowed)}"
    if kind == "invalid_key":
        return f"keys must be strings, got {got} (quote the key)"
    if kind == "bool_type":
        return f"must be true or false (a YAML boolean, unquoted), got {got}"
    if kind in ("int_type", "float_type"):
        what = "a whole number" if kind == "int_type" else "a number"
        hint = ""
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            hint = " (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)"
        elif isinstance(value, str):
            hint = " (write the number unquoted)"
        return f"must be {what}, got {got}{hint}"
    if kind == "string_type":
        quote = " (quote it)" if isinstance(value, bool | int | float) else ""
        return f"must be a string, got {got}{quote}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of keys to values, got {got}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {got}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "finite_number":
        return f"must be a finite number, got {value}"
    bounds = {
        "greater_than": "greater than {gt}",
        "greater_than_equal": "{ge} or more",
        "less_than": "less than {lt}",
        "less_than_equal": "{le} or less",
    }
    if kind in bounds:
        limit = bounds[kind].format(**{k: _number(v) for k, v in ctx.items()})
        return f"must be {limit}, got {_number(value)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {got}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}, got {got}"


def _message_at_top(err: ErrorDetails) -> str | None:
    if err["type"] not in ("model_type", "dict_type", "model_attributes_type"):
        return None
    if err["input"] is None:
        return "the document is empty; it must be a mapping of keys to values"
    return f"the document must be a mapping of keys to values, got {describe(err['input'])}"


def _allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed in the mapping at ``loc`` of a ``model`` document."""
    tp: Any = model
    for part in loc:
        tp = _step(tp, part)
    section = next((t for t in _alternatives(tp) if _is_model(t)), None)
    if section is None:
        return []
    return sorted(f.alias or name for name, f in section.model_fields.items())


def _step(tp: Any, part: int | str) -> Any:
    for t in _alternatives(tp):
        if isinstance(part, int) and get_origin(t) in (list, tuple):
            return get_args(t)[0]
        if isinstance(part, str) and _is_model(t):
            by_key = {f.alias or name: f for name, f in t.model_fields.items()}
            if part in by_key:
                return by_key[part].annotation
    return None


def _without_tags(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """``loc`` without the tags of tagged unions (``input: path | spark mapping`` reports
    ``models[0].input.table``, not ``models[0].input.spark.table``)."""
    out: list[int | str] = []
    tp: Any = model
    for part in loc:
        tagged = _tags(tp)
        if isinstance(part, str) and part in tagged:
            tp = tagged[part]
            continue
        out.append(part)
        tp = _step(tp, part)
    return tuple(out)


def _tags(tp: Any) -> dict[str, Any]:
    """The alternatives of a tagged union (``Annotated[X, Tag("x")] | ...``) by tag."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) is not Union and get_origin(tp) is not types.UnionType:
        return {}
    out = {}
    for arg in get_args(tp):
        if get_origin(arg) is Annotated:
            for meta in get_args(arg)[1:]:
                if isinstance(meta, Tag) and isinstance(meta.tag, str):
                    out[meta.tag] = arg
    return out


def _alternatives(tp: Any) -> Iterator[Any]:
    """``tp`` without ``Annotated`` and with unions (``X | None``) spread out."""
    origin = get_origin(tp)
    if origin is Annotated:
        yield from _alternatives(get_args(tp)[0])
    elif origin is Union or origin is types.UnionType:
        for arg in get_args(tp):
            yield from _alternatives(arg)
    elif tp is not None:
        yield tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)
