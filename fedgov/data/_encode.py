"""Encode Arrow data (a table or record batch) against a spec into a Batch.

This is the Arrow twin of :func:`fedgov.stats.encode_columns`, written so
that the cost per chunk is a handful of vectorised calls, never a Python
loop over rows:

* numeric columns: ``float64`` without nulls is handed to numpy without a
  copy (read-only views of the Arrow buffers); other numbers are cast once,
  nulls become NaN;
* categories and groups: dictionary-encoded columns (how the readers ask
  Parquet and CSV for them) are matched on their few dictionary values and
  mapped through a lookup table; plain strings use ``index_in``;
* label and prediction: numbers are compared in numpy; anything else is
  decided once per distinct value, with the same rule as ``encode_columns``;
  values the spec does not declare are refused (:mod:`fedgov.stats._outcomes`:
  a min/max or ``np.isin`` over numbers, one decision per dictionary entry).

Category values are matched as Arrow renders them as strings (``1.0`` ->
``"1"``), like :func:`fedgov.data.read_columns` from which specs are
derived; a float NaN counts as missing, as it does in ``encode_columns``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fedgov.errors import DataError
from fedgov.stats._outcomes import Declared, UndeclaredValues, declared_outcomes

if TYPE_CHECKING:
    from fedgov.spec import MonitoringSpec
    from fedgov.stats import Batch

__all__ = ["count_the_rest", "encode_arrow", "float_column", "undeclared_counts"]

_Column: TypeAlias = Any  # pa.Array | pa.ChunkedArray (pyarrow ships no type hints)


def _chunks(col: _Column) -> list[pa.Array]:
    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.empty(0, dtype=dtype)
    return np.concatenate(parts)


def float_column(col: _Column, name: str) -> np.ndarray:
    """float64 values, NaN where missing; zero-copy for float64 without nulls."""
    t = col.type
    if pa.types.is_dictionary(t):
        col = pc.cast(col, t.value_type)
        t = col.type
    if not pa.types.is_float64(t):
        if not (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_null(t)
            or pa.types.is_decimal(t)
            or pa.types.is_boolean(t)
        ):
            raise DataError(
                f"column '{name}' should be numeric but holds {t} values; fix the data or "
                "re-derive the spec with this column as categorical"
            )
        # An integer above 2**53 has no exact float64: Arrow's safe cast refuses it, but
        # binning compares with float edges anyway, so the nearest float is the answer.
        col = pc.cast(col, pa.float64(), safe=not pa.types.is_integer(t))
    if col.null_count:
        col = pc.fill_null(col, float("nan"))
    parts = [c.to_numpy(zero_copy_only=False) for c in _chunks(col)]
    return _concat(parts, np.float64)


def _as_strings(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Values as Arrow strings, and a mask of the missing ones (null or float NaN)."""
    missing = values.is_null()
    if pa.types.is_floating(values.type):
        missing = pc.or_(missing, pc.is_nan(values).fill_null(False))
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    return values, missing.to_numpy(zero_copy_only=False)


def _dictionary_lookup(
    col: pa.DictionaryArray, table: np.ndarray, null_code: int, dtype: type
) -> np.ndarray:
    """``table[index]`` per row, ``null_code`` where the index is null."""
    indices = col.indices
    lut = pa.array(np.append(table, np.array([null_code], dtype=dtype)).astype(dtype))
    if indices.null_count:
        indices = pc.fill_null(indices, len(table))
    # Arrow's take: about twice numpy's fancy indexing here (measured, issue 16).
    out: np.ndarray = pc.take(lut, indices).to_numpy(zero_copy_only=False)
    return out


def _codes_of_values(values: pa.Array, vocab: pa.Array, m: int) -> np.ndarray:
    strings, missing = _as_strings(values)
    idx = pc.index_in(strings, value_set=vocab).fill_null(m)
    codes: np.ndarray = idx.to_numpy(zero_copy_only=False).astype(np.int64)
    codes[missing] = m + 1
    return codes


def _codes(col: _Column, name: str, values: Sequence[str]) -> np.ndarray:
    """Index into ``values``; ``len(values)`` for an unseen value, ``+1`` for missing."""
    m = len(values)
    vocab = pa.array(list(values), pa.string())
    parts = []
    for chunk in _chunks(col):
        if pa.types.is_dictionary(chunk.type):
            table = _codes_of_values(chunk.dictionary, vocab, m)
            parts.append(_dictionary_lookup(chunk, table, m + 1, np.int64))
        elif pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
            parts.append(_codes_of_values(chunk, vocab, m))
        else:  # numbers, booleans...: decide per distinct value, then look up
            enc = pc.dictionary_encode(chunk)
            table = _codes_of_values(enc.dictionary, vocab, m)
            parts.append(_dictionary_lookup(enc, table, m + 1, np.int64))
    return _concat(parts, np.int64)


def _is_positive_value(value: object, positive: str, pos_num: float | None) -> int:
    """The rule of ``encode_columns``: the key equals ``positive``, or the number does."""
    if value is None:
        return -1
    if isinstance(value, float) and value != value:
        return -1
    if isinstance(value, bool):
        key = str(value)
        return int(
            key == positive
            or key.lower() == positive.lower()
            or (pos_num is not None and float(value) == pos_num)
        )
    if isinstance(value, float) and value.is_integer():
        key = str(int(value))
    else:
        key = str(value)
    if key == positive:
        return 1
    if pos_num is None:
        return 0
    try:
        return int(float(value) == pos_num)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _binary_of_values(values: pa.Array, positive: str, pos_num: float | None) -> np.ndarray:
    return np.array(
        [_is_positive_value(v, positive, pos_num) for v in values.to_pylist()], dtype=np.int8
    )


def _binary(col: _Column, positive: str, declared: Declared | None = None) -> np.ndarray:
    """1 where the value is the positive label, 0 elsewhere, -1 where missing; a
    value ``declared`` does not list raises :class:`~fedgov.stats._outcomes.UndeclaredValues`
    (counted over the whole column: every chunk is checked before it raises)."""
    try:
        pos_num: float | None = float(positive)
    except ValueError:
        pos_num = None
    parts = []
    bad: Counter[str] = Counter()
    for chunk in _chunks(col):
        t = chunk.type
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            x = chunk.to_numpy(zero_copy_only=False)  # nulls become NaN
            if pos_num is None:
                out = np.zeros(len(x), np.int8)
            elif x.dtype.kind in "iu" and pos_num.is_integer() and abs(pos_num) < 2**53:
                out = (x == int(pos_num)).view(np.int8)  # as x == pos_num, without the float cast
            else:
                out = (x == pos_num).view(np.int8)
            missing = None
            if x.dtype.kind == "f":  # floats, or integers with nulls
                missing = np.isnan(x)
                out[missing] = -1
            parts.append(out)
            if declared is not None:
                bad.update(declared.undeclared_numbers(x, missing) or {})
            continue
        enc = chunk if pa.types.is_dictionary(t) else pc.dictionary_encode(chunk)
        table = _binary_of_values(enc.dictionary, positive, pos_num)
        parts.append(_dictionary_lookup(enc, table, -1, np.int8))
        if declared is not None:
            bad.update(_undeclared_entries(enc, declared) or {})
    if bad and declared is not None:
        raise UndeclaredValues({declared: bad})
    return _concat(parts, np.int8)


def _undeclared_entries(enc: pa.DictionaryArray, declared: Declared) -> Counter[str] | None:
    """Rows of a dictionary array whose value is not declared, per value; one
    decision per dictionary entry, rows counted only when one is refused."""
    entries = enc.dictionary.to_pylist()
    if all(declared.accepts(v) for v in entries):  # the usual chunk: no index copy
        return None
    indices = enc.indices
    if indices.null_count:
        indices = pc.drop_null(indices)
    return declared.undeclared_distinct(entries, indices.to_numpy(zero_copy_only=False))


def undeclared_counts(col: _Column, declared: Declared) -> Counter[str]:
    """The rows of ``col`` whose value ``declared`` does not list, per value (no
    encoding): how a reader counts them in the rest of a file it refuses."""
    bad: Counter[str] = Counter()
    for chunk in _chunks(col):
        t = chunk.type
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            bad.update(declared.undeclared_numbers(chunk.to_numpy(zero_copy_only=False)) or {})
        else:
            enc = chunk if pa.types.is_dictionary(t) else pc.dictionary_encode(chunk)
            bad.update(_undeclared_entries(enc, declared) or {})
    return bad


def count_the_rest(exc: UndeclaredValues, tables: Iterable[pa.Table], spec: MonitoringSpec) -> None:
    """Add the undeclared values of the remaining chunks (of a file, or of a Spark
    partition) to ``exc``, so its counts are those of the whole input (the earlier
    chunks had none, the refused chunk's are in it already). Costs one more read of
    the rest, on failure only."""
    checked = [d for d in declared_outcomes(spec) if d is not None]
    for table in tables:
        for declared in checked:
            exc.add(declared, undeclared_counts(table.column(declared.column), declared))
        del table


def _column(data: pa.Table | pa.RecordBatch, name: str) -> _Column:
    try:
        return data.column(name)
    except KeyError:
        raise DataError(
            f"missing column '{name}' named by the spec; present: {data.schema.names[:20]}"
        ) from None


def encode_arrow(spec: MonitoringSpec, data: pa.Table | pa.RecordBatch) -> Batch:
    """Encode the spec's columns of ``data`` into a :class:`~fedgov.stats.Batch`."""
    from fedgov.stats._batch import assemble_batch

    return assemble_batch(
        spec,
        data.num_rows,
        floats=lambda name: float_column(_column(data, name), name),
        codes=lambda name, values: _codes(_column(data, name), name, values),
        labels=lambda name, declared: _binary(_column(data, name), spec.positive_label, declared),
    )
