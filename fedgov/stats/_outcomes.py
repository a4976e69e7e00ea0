"""Declared outcome values: a label or prediction value the spec does not list is refused.

Before values were declared, every value but the positive label counted as a
negative, so ``yes``, ``2`` or ``"1 "`` in a window of 0/1 labels changed the
fairness figures without a word. The spec now lists the values a column may
hold (:attr:`fedgov.spec.MonitoringSpec.label_values`); the encoders check
each chunk against them with vectorised calls (a min/max or ``np.isin`` over
numbers, one decision per distinct value otherwise) and raise
:class:`UndeclaredValues`, a :class:`~fedgov.errors.DataError` that counts the
offending rows per value, so that a reader can add up the counts of a whole
file before it reports them.

How a raw value matches the declared strings:

* a number matches a declared value that is a plain number equal to it
  (``1`` and ``1.0`` match ``"1"``); a bool matches that way too (``True`` is
  1), or as ``"True"``/``"False"`` in any case;
* a string matches a declared value written the same, or a plain number (no
  blanks) equal to one (``"1.0"`` matches ``"1"``; ``"1 "`` and ``"yes"`` do
  not);
* a missing value (None, NaN) is never refused here: it is counted as a
  missing outcome (``-1``), neither positive nor negative.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from fedgov.errors import DataError
from fedgov.spec import MonitoringSpec, plain_number

__all__ = ["Declared", "UndeclaredValues", "declared_outcomes", "show_value"]

_MAX_SHOWN = 5


@dataclass(frozen=True)
class Declared:
    """The declared values of one outcome column, ready to match raw values against."""

    column: str
    what: str  # "label" or "prediction"
    values: tuple[str, ...]
    # derived from ``values``: the plain numbers among them (sorted, and as a set),
    # the integers among those, and every value in lower case (for booleans)
    numbers: np.ndarray = field(init=False, repr=False, compare=False)
    number_set: frozenset[float] = field(init=False, repr=False, compare=False)
    integers: frozenset[int] = field(init=False, repr=False, compare=False)
    lower: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        nums = sorted({n for v in self.values if (n := plain_number(v)) is not None})
        object.__setattr__(self, "numbers", np.array(nums, dtype=np.float64))
        object.__setattr__(self, "number_set", frozenset(nums))
        ints = frozenset(int(n) for n in nums if n.is_integer() and abs(n) < 2**53)
        object.__setattr__(self, "integers", ints)
        object.__setattr__(self, "lower", frozenset(v.lower() for v in self.values))

    @property
    def shown(self) -> str:
        """The declared values as a message lists them: ``0, 1`` or ``'no', 'yes'``."""
        return ", ".join(v if plain_number(v) is not None else repr(v) for v in self.values)

    def accepts(self, value: Any) -> bool:
        """Whether one raw value is declared (a missing one always is)."""
        if value is None:
            return True
        if isinstance(value, str):
            if value in self.values:
                return True
            n = plain_number(value)
            return n is not None and n in self.number_set
        if isinstance(value, (bool, np.bool_)):
            return str(bool(value)).lower() in self.lower or float(value) in self.number_set
        if isinstance(value, (int, float, np.integer, np.floating, Decimal)):
            f = float(value)
            return math.isnan(f) or f in self.number_set
        try:  # pandas.NA / NaT and other missing markers
            if value != value:
                return True
        except TypeError:
            return True
        return str(value) in self.values

    def undeclared_numbers(
        self, x: np.ndarray, missing: np.ndarray | None = None
    ) -> Counter[str] | None:
        """Rows of a numeric array (NaN missing) whose value is not declared, counted
        per value; None when there are none (the fast, common case). ``missing`` is
        ``isnan(x)`` of a float array, if the caller has it already."""
        if x.size == 0:
            return None
        if x.dtype.kind not in "iuf":  # booleans: as the numbers 0 and 1
            x = x.astype(np.float64)
        if x.dtype.kind in "iu":
            lo, hi = int(x.min()), int(x.max())
            ints = self.integers
            if hi - lo < len(ints) and all(i in ints for i in range(lo, hi + 1)):
                return None  # every integer from the least to the largest is declared
            bad = ~np.isin(x, self.numbers)
        else:
            ok = np.isin(x, self.numbers)
            ok |= np.isnan(x) if missing is None else missing
            if ok.all():
                return None
            bad = ~ok
        if not bad.any():
            return None
        values, counts = np.unique(x[bad], return_counts=True)
        out: Counter[str] = Counter()
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            out[show_value(v)] += int(c)
        return out

    def undeclared_distinct(
        self, distinct: Iterable[Any], index: np.ndarray
    ) -> Counter[str] | None:
        """Rows whose value is not declared, from a column's distinct values and the
        index of each row into them (negative or out of range: missing)."""
        distinct = list(distinct)
        flags = np.array([not self.accepts(v) for v in distinct], dtype=bool)
        if not flags.any():
            return None
        index = index[(index >= 0) & (index < len(flags))]
        counts = np.bincount(index, minlength=len(flags))
        out: Counter[str] = Counter()
        for j in np.flatnonzero(flags & (counts > 0)).tolist():
            out[show_value(distinct[j])] += int(counts[j])
        return out or None


def declared_outcomes(spec: MonitoringSpec) -> tuple[Declared | None, Declared | None]:
    """The declared values of the label and the prediction; None where not checked."""
    label = Declared(spec.label, "label", spec.label_values) if spec.label_values else None
    pred = (
        Declared(spec.prediction, "prediction", spec.prediction_values)
        if spec.prediction_values
        else None
    )
    return label, pred


def show_value(value: Any) -> str:
    """How a refused value is written in a message: strings quoted (``'1 '``, so a
    blank shows) unless they are plain numbers, numbers as their key (``2``, not
    ``2.0``): a ``2`` read from a CSV file as text or as a number shows alike."""
    if isinstance(value, str):
        return value if plain_number(value) is not None else repr(value)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return repr(value)


class UndeclaredValues(DataError):
    """Label or prediction values the spec does not declare, counted per column and value.

    A :class:`~fedgov.errors.DataError` with a complete message; :meth:`add`
    lets a reader add the counts of later chunks before it re-raises.
    """

    def __init__(self, found: Mapping[Declared, Counter[str]]) -> None:
        self.found: dict[Declared, Counter[str]] = {d: Counter(c) for d, c in found.items()}
        super().__init__(self.message())

    def add(self, declared: Declared, counts: Counter[str] | None) -> None:
        if counts:
            self.found.setdefault(declared, Counter()).update(counts)
            self.args = (self.message(),)

    def message(self) -> str:
        parts = []
        for d, counts in self.found.items():
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            listed = ", ".join(
                f"{v} ({c} row{'s' if c != 1 else ''})" for v, c in ranked[:_MAX_SHOWN]
            )
            if len(ranked) > _MAX_SHOWN:
                listed += f" and {len(ranked) - _MAX_SHOWN} more"
            verb = "is not a declared" if len(ranked) == 1 else "are not declared"
            noun = f"{d.what} value" + ("s" if len(ranked) > 1 else "")
            parts.append(
                f"column '{d.column}': value{'s' if len(ranked) > 1 else ''} {listed} "
                f"{verb} {noun}; the spec declares {d.shown}"
            )
        return (
            "; ".join(parts) + ". Fix the data, or re-derive the spec "
            "(`fedgov spec --reference FILE`) if the values changed."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (UndeclaredValues, (self.found,))
