"""Declared outcome values: every value the label and prediction columns may hold.

Values are kept as strings, as the encoders key raw values (``1``, ``1.0`` and
``"1"`` are all ``"1"``); two values written differently are the same when they
are equal plain numbers (:func:`outcome_value_matches`). A spec that declares
none stands for :func:`default_outcome_values`. This module reads the declared
values from a spec document and checks them against the positive label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fedgov.errors import SpecError

__all__ = [
    "check_outcome_values",
    "default_outcome_values",
    "outcome_value_matches",
    "outcome_values",
    "plain_number",
]

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def plain_number(text: str) -> float | None:
    """The value of ``text`` if it is written as a plain decimal number (no blanks,
    no ``inf``/``nan``, no underscores), else None: how declared outcome values
    that are numbers are recognised, and why ``"1 "`` is not the value 1."""
    return float(text) if _PLAIN_NUMBER.match(text) else None


def default_outcome_values(positive_label: str) -> tuple[str, ...]:
    """The outcome values a spec that declares none stands for.

    ``("0", "1")`` when the positive label is the number 0 or 1 (binary labels,
    the common case); otherwise ``()``: the values are *not checked*, and every
    value but the positive one counts as a negative (the behaviour of specs
    written before outcome values were declared). Part of the format.
    """
    return ("0", "1") if plain_number(positive_label) in (0.0, 1.0) else ()


def outcome_value_matches(value: str, declared: str) -> bool:
    """Whether two outcome values written in a spec are the same value: equal
    text, or plain numbers that are equal (``"1"`` and ``"1.0"``)."""
    if value == declared:
        return True
    a, b = plain_number(value), plain_number(declared)
    return a is not None and a == b


def outcome_values(doc: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    """Declared outcome values as strings, as the encoders key raw values
    (``1``, ``1.0`` and ``"1"`` are all ``"1"``)."""
    values = doc.get(key)
    if values is None:
        return ()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SpecError(f"{source}: {key}: expected a list of values, got {values!r}")
    out = []
    for i, v in enumerate(values):
        k = _outcome_key(v)
        if k is None:
            raise SpecError(f"{source}: {key}[{i}]: {v!r} is not a value; list strings or numbers")
        out.append(k)
    if not out:
        raise SpecError(
            f"{source}: {key}: empty; list the values, or leave the key out for the default"
        )
    return tuple(out)


def _outcome_key(value: Any) -> str | None:
    """A value as the encoders key it (:func:`fedgov.stats.value_key`), None if it is none."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def check_outcome_values(values: tuple[str, ...], positive_label: str, key: str) -> None:
    """Refuse values listed twice, or a list that lacks the positive label;
    ``key`` names the field in the messages (``"file: label_values"``)."""
    if not values:
        return  # not checked (see default_outcome_values)
    dup = sorted({v for v in values if sum(outcome_value_matches(v, w) for w in values) > 1})
    if dup:
        raise SpecError(f"{key}: {dup} listed more than once; list each value once")
    if not any(outcome_value_matches(positive_label, v) for v in values):
        raise SpecError(
            f"{key}: {list(values)} lacks the positive label {positive_label!r}; "
            "add it, or re-derive the spec with `fedgov spec --reference FILE`"
        )
