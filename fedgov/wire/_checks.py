"""Bounds on what a peer sends, checked before anything else reads it.

:func:`check_request` bounds the identifiers, globs and times of any request
(:mod:`fedgov.limits`); :func:`json_from_wire` reads a JSON field a peer sent
(size, nesting depth, syntax). Both raise :class:`WireError`, the wire's one
error, naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from fedgov.documents import MAX_DEPTH, nested_too_deep
from fedgov.errors import ReportRejected
from fedgov.limits import (
    duration_problem,
    glob_problem,
    identifier_problem,
    name_problem,
    time_problem,
)

__all__ = ["MAX_JSON_CHARS", "WireError", "check_request", "json_from_wire"]

MAX_JSON_CHARS = 4 << 20  # a JSON field a peer sends: metrics or a spec, never rows


class WireError(ReportRejected):
    """A message is malformed; the text names the field."""


# What each request field may hold, by field name; an empty (unset) field is not checked,
# what is required is the handler's business.
_FIELD_RULES: dict[str, Callable[[Any], str | None]] = {
    "silo_id": identifier_problem,
    "jurisdiction": identifier_problem,
    "model_id": identifier_problem,
    "model_version": identifier_problem,
    "version": identifier_problem,
    "metric": identifier_problem,
    "feature": name_problem,
    "attribute": name_problem,
    "report_id": identifier_problem,  # names files (re-annotation requests): no '/'
    "command_id": identifier_problem,
    "jurisdiction_glob": glob_problem,
    "since_unix_ms": time_problem,
    "start_unix_ms": time_problem,
    "end_unix_ms": time_problem,
    "created_unix_ms": time_problem,
    "stale_after_ms": duration_problem,
}


def check_request(message: Message, where: str = "request") -> None:
    """WireError naming the first field of ``message`` (not of its sub-messages) whose
    value breaks its rule in :data:`_FIELD_RULES`: an identifier too long or with odd
    characters, a glob that is not one, a time outside 1970..9999."""
    for field, value in message.ListFields():  # only the fields that are set
        rule = _FIELD_RULES.get(field.name)
        if rule is not None and not isinstance(value, Message):
            problem = rule(value)
            if problem:
                raise WireError(f"{where}.{field.name}: {problem}")


_PLAIN_DECODER = json.JSONDecoder()


def json_from_wire(
    text: str,
    *,
    field: str,
    decoder: json.JSONDecoder | None = None,
    max_chars: int = MAX_JSON_CHARS,
) -> Any:
    """Parse a JSON field a peer sent; WireError naming ``field`` if it is too large,
    nested deeper than :data:`fedgov.documents.MAX_DEPTH` (the parser recurses), or
    not JSON."""
    if len(text) > max_chars:
        raise WireError(f"{field}: {len(text)} characters, the limit is {max_chars}")
    if nested_too_deep(text):
        raise WireError(
            f"{field}: nested more than {MAX_DEPTH} levels deep; fedgov's own JSON nests "
            "a few levels, so the sender is broken or not a fedgov agent"
        )
    try:
        return (decoder or _PLAIN_DECODER).decode(text)
    except json.JSONDecodeError as exc:
        raise WireError(f"{field}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:  # cannot happen below MAX_DEPTH; a guard all the same
        raise WireError(f"{field}: nested too deeply to read") from None
    except ValueError as exc:  # from the decoder's hooks (NaN, overflowing numbers)
        raise WireError(f"{field}: {exc}") from None
