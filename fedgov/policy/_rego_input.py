"""The input of a policy as the Rego engine takes it: plain JSON values.

:func:`to_plain` converts what the callers build (numpy scalars and arrays,
tuples, sets, dates) to JSON types, and refuses with :class:`InputError`,
naming the field by its path (``input.metrics.psi``), what JSON cannot carry:
NaN, infinities, integers beyond 64 bits, non-string keys, other types.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping, Set
from typing import Any

import numpy as np

__all__ = ["InputError", "object_input", "to_plain"]

_INT64 = (-(2**63), 2**63 - 1)


class InputError(ValueError):
    """The input cannot be passed to the engine; the message names the field."""


def _child(path: str, key: Any) -> str:
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z_]\w*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key) if isinstance(key, str) else key}]"


def to_plain(value: Any, path: str = "input") -> Any:
    """Convert ``value`` to JSON types (dict/list/str/int/float/bool/None).

    Numpy scalars and arrays become Python numbers and lists, tuples and sets
    lists, dates ISO-8601 strings. Raises :class:`InputError` naming the field
    for NaN, infinities, non-string keys, and types JSON cannot carry.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, np.generic):
        return to_plain(value.item(), path)
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InputError(f"{path} is {value}, outside the 64-bit integer range")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{path} is {value}; JSON cannot carry NaN or infinity, send null")
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"{path} has a key {k!r} that is not a string")
            out[k] = to_plain(v, _child(path, k))
        return out
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Set):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(sorted(value, key=repr))]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise InputError(f"{path} is a {type(value).__name__}, which JSON cannot carry")


def object_input(value: Any) -> dict[str, Any]:
    """:func:`to_plain` of a policy input, which must be an object; InputError otherwise."""
    plain = to_plain(value)
    if not isinstance(plain, dict):
        raise InputError(f"input must be an object, not {type(value).__name__}")
    return plain
