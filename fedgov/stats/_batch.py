"""A chunk of rows encoded against a spec, and the encoder from raw columns.

Encoding turns raw values into small integers once, at the edge: after it a
:class:`Batch` holds numbers and codes only, never a categorical string, so
nothing downstream can leak a raw value by accident.

Raw values are matched to the spec's strings by a *key*: ``None`` and NaN
(and ``pandas.NA``/``NaT``) are missing; other values become ``str(value)``,
except that an integral float is written as an integer (``1.0`` -> ``"1"``).
That exception exists because CSV readers turn an integer column that has a
gap into floats, and a category must not change name with the chunk it is
read in. The key is applied to the distinct values of a column, not to every
row, so encoding stays vectorised for numeric columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from fedgov.errors import DataError, SpecError
from fedgov.spec import CategoricalFeature, MonitoringSpec, NumericFeature
from fedgov.stats._outcomes import Declared, UndeclaredValues, declared_outcomes
from fedgov.stats._parallel import run_all

__all__ = ["Batch", "encode_columns", "value_key"]


@dataclass(frozen=True)
class Batch:
    """One chunk of rows, encoded: float features, integer codes, int8 outcomes.

    ``codes`` hold ``0..m-1`` for the spec's categories/groups, ``m`` for an
    unseen value and ``m + 1`` for a missing one. ``y_true``/``y_pred`` hold
    1 (positive), 0 (negative) or -1 (missing).
    """

    n_rows: int
    numeric: Mapping[str, np.ndarray]
    codes: Mapping[str, np.ndarray]
    y_true: np.ndarray
    y_pred: np.ndarray
    score: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = {**self.numeric, **self.codes, "y_true": self.y_true, "y_pred": self.y_pred}
        if self.score is not None:
            arrays["score"] = self.score
        wrong = {k: len(v) for k, v in arrays.items() if len(v) != self.n_rows}
        if wrong:
            raise ValueError(f"batch of {self.n_rows} rows has columns of other lengths: {wrong}")


def value_key(value: Any) -> str | None:
    """The string a raw value is compared as; ``None`` if the value is missing."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        return str(int(f)) if f.is_integer() else str(f)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:  # pandas.NA / NaT and friends, without importing pandas
        if value != value:
            return None
    except TypeError:
        return None
    return str(value)


def _as_array(values: Any) -> np.ndarray:
    """A 1-d array with one element per row, without numpy's coercions of lists."""
    if isinstance(values, np.ndarray):
        return values.reshape(-1)
    try:
        arr: np.ndarray | None = np.asarray(values)
    except ValueError:  # ragged: some values are sequences themselves
        arr = None
    if arr is None or arr.ndim != 1 or arr.dtype.kind in "US":
        # numpy turns ["a", None, nan] into strings ("None", "nan") and nested
        # values into extra dimensions: keep one Python object per row.
        items = list(values)
        return np.fromiter(items, dtype=object, count=len(items))
    return arr


def _keys(values: Any) -> tuple[np.ndarray, list[Any], list[str | None]]:
    """Distinct values of a column: (index into them per row; the values; their
    keys, None for a missing value)."""
    arr = _as_array(values)
    if arr.dtype.kind == "O":
        # Python objects: hash them rather than sort them (str, None, NaN and
        # pandas.NA are not mutually orderable, and sorting objects is slow).
        # A column mixing True with 1 would share one key: bools hash as ints.
        values = arr.tolist()
        try:
            distinct = list(dict.fromkeys(values))
        except TypeError:  # unhashable values: key them one by one
            values = [value_key(v) for v in values]
            distinct = list(dict.fromkeys(values))
            where = {v: i for i, v in enumerate(distinct)}
            inv = np.fromiter(map(where.__getitem__, values), np.int64, count=len(values))
            return inv, distinct, distinct
        where = {v: i for i, v in enumerate(distinct)}
        inv = np.fromiter(map(where.__getitem__, values), np.int64, count=len(values))
        return inv, distinct, [value_key(v) for v in distinct]
    uniq, inv = np.unique(arr, return_inverse=True)
    distinct = uniq.tolist()
    return inv.reshape(-1), distinct, [value_key(u) for u in distinct]


def _codes(values: Any, vocab: Sequence[str]) -> np.ndarray:
    """Codes of a column against ``vocab``: index, ``m`` unseen, ``m + 1`` missing."""
    m = len(vocab)
    index = {v: i for i, v in enumerate(vocab)}
    inv, _, keys = _keys(values)
    lut = np.array([m + 1 if k is None else index.get(k, m) for k in keys], dtype=np.int64)
    codes: np.ndarray = lut[inv]
    return codes


def _label(values: Any, positive: str, declared: Declared | None = None) -> np.ndarray:
    """1 where the value is the positive label, 0 otherwise, -1 where missing;
    a value ``declared`` does not list raises :class:`UndeclaredValues`."""
    try:
        pos_num: float | None = float(positive)
    except ValueError:
        pos_num = None
    inv, uniq, keys = _keys(values)

    def is_positive(u: Any, k: str) -> bool:
        if k == positive:
            return True
        if pos_num is None:
            return False
        try:
            return float(u) == pos_num
        except (TypeError, ValueError):
            return False

    if declared is not None:
        bad = declared.undeclared_distinct(uniq, inv)
        if bad:
            raise UndeclaredValues({declared: bad})
    lut = [-1 if k is None else int(is_positive(u, k)) for u, k in zip(uniq, keys, strict=True)]
    labels: np.ndarray = np.array(lut, dtype=np.int8)[inv]
    return labels


def _float(values: Any, name: str) -> np.ndarray:
    arr = _as_array(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    try:
        return np.array(
            [np.nan if value_key(v) is None else float(v) for v in arr.tolist()],
            dtype=np.float64,
        )
    except (TypeError, ValueError):
        raise DataError(
            f"column '{name}': the spec declares it numeric but it holds non-numeric values; "
            "fix the data or re-derive the spec with this column as categorical"
        ) from None


def encode_columns(spec: MonitoringSpec, columns: Mapping[str, Any]) -> Batch:
    """Encode raw columns (numbers, strings, None, NaN) against ``spec``.

    Raises :class:`~fedgov.errors.DataError` naming any column the spec
    reads that is not present, or whose length differs from the label's.
    """
    absent = [c for c in spec.columns() if c not in columns]
    if absent:
        raise DataError(
            f"missing column(s) {absent} required by the spec of model "
            f"{spec.model_id} {spec.model_version}; present: {sorted(columns)}"
        )
    try:
        return assemble_batch(
            spec,
            len(columns[spec.label]),
            floats=lambda name: _float(columns[name], name),
            codes=lambda name, values: _codes(columns[name], values),
            labels=lambda name, declared: _label(columns[name], spec.positive_label, declared),
        )
    except ValueError as exc:
        raise DataError(f"columns of unequal length: {exc}") from None


def assemble_batch(
    spec: MonitoringSpec,
    n_rows: int,
    *,
    floats: Callable[[str], np.ndarray],
    codes: Callable[[str, tuple[str, ...]], np.ndarray],
    labels: Callable[[str, Declared | None], np.ndarray],
) -> Batch:
    """A :class:`Batch` of the spec's columns, each encoded by the reader's own function.

    One place decides which column is read how (numeric features as floats,
    categorical features and sensitive attributes as codes, label and
    prediction as 0/1/-1 checked against their declared values, the score as
    floats), whatever the source. Undeclared values in both the label and the
    prediction are reported together.
    """
    # Which column is encoded how, in spec order; then every column at once on
    # the fold threads (the Arrow and numpy kernels release the GIL).
    jobs: dict[tuple[str, str], Callable[[], np.ndarray]] = {}
    for f in spec.features:
        if isinstance(f, NumericFeature):
            jobs["numeric", f.name] = partial(floats, f.name)
        elif isinstance(f, CategoricalFeature):
            jobs["codes", f.name] = partial(codes, f.name, f.categories)
    for a in spec.sensitive:
        if ("codes", a.name) in jobs:
            f = spec.feature(a.name)
            if isinstance(f, CategoricalFeature) and f.categories != a.groups:
                raise SpecError(
                    f"'{a.name}' is both a categorical feature and a sensitive attribute "
                    "with different values; list the same categories and groups"
                )
            continue
        jobs["codes", a.name] = partial(codes, a.name, a.groups)
    declared_label, declared_prediction = declared_outcomes(spec)
    jobs["label", spec.label] = partial(labels, spec.label, declared_label)
    jobs["label", spec.prediction] = partial(labels, spec.prediction, declared_prediction)
    if spec.score:
        jobs["score", spec.score] = partial(floats, spec.score)
    done = run_all([partial(_outcome_of, job) for job in jobs.values()], values=n_rows * len(jobs))
    column: dict[tuple[str, str], np.ndarray] = {}
    undeclared = [o for o in done if isinstance(o, UndeclaredValues)]
    for key, outcome in zip(jobs, done, strict=True):
        if isinstance(outcome, UndeclaredValues):
            for other in undeclared[1:]:  # the label's and the prediction's, in one message
                for d, counts in other.found.items():
                    outcome.add(d, counts)
        if isinstance(outcome, Exception):  # the first failure in spec order, whichever
            raise outcome  # thread met it
        column[key] = outcome
    return Batch(
        n_rows=n_rows,
        numeric={name: column[kind, name] for kind, name in jobs if kind == "numeric"},
        codes={name: column[kind, name] for kind, name in jobs if kind == "codes"},
        y_true=column["label", spec.label],
        y_pred=column["label", spec.prediction],
        score=column["score", spec.score] if spec.score else None,
    )


def _outcome_of(job: Callable[[], np.ndarray]) -> np.ndarray | Exception:
    try:
        return job()
    except Exception as exc:  # re-raised by the caller, in column order
        return exc
