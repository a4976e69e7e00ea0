"""Streaming readers: CSV or Parquet files, read in chunks, encoded against a spec.

Memory stays bounded by the chunk size: each Arrow record batch is encoded
into a :class:`fedgov.stats.Batch` (floats and small integer codes), folded
into statistics by the caller, and dropped.

Values are compared as Arrow renders them as strings (``1.0`` -> ``"1"``),
so a spec derived from a CSV file matches the same data stored as Parquet.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fedgov.errors import DataError

if TYPE_CHECKING:
    from fedgov.spec import MonitoringSpec
    from fedgov.stats import Batch

__all__ = ["DATA_SUFFIXES", "file_digest", "iter_record_batches", "iter_batches", "read_columns"]

DATA_SUFFIXES = (".csv", ".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 262_144


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(
        f"{path}: unsupported file type '{suffix}'; use .csv or .parquet"
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")


def _schema_names(path: Path, kind: str) -> list[str]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            return list(pq.read_schema(path).names)
        with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)) as r:
            return list(r.schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read as {kind.upper()}: {exc}") from None


def iter_record_batches(
    path: str | Path,
    columns: Sequence[str],
    *,
    string_columns: Sequence[str] = (),
    float_columns: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Yield record batches with ``columns``; a missing column is a DataError naming it."""
    p = Path(path)
    _check_file(p)
    kind = _kind(p)
    present = _schema_names(p, kind)
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(
            f"{p}: missing column(s) {missing} named by the spec; "
            f"the file has {present[:20]}{'...' if len(present) > 20 else ''}. "
            "Check the spec matches this data, or re-derive it with `fedgov spec`."
        )
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            pf = pq.ParquetFile(p)
            for rb in pf.iter_batches(batch_size=chunk_rows, columns=list(columns)):
                yield _coerce(rb, string_columns, float_columns)
            return
        types: dict[str, pa.DataType] = {c: pa.string() for c in string_columns}
        types.update({c: pa.float64() for c in float_columns})
        # ~100 bytes a row is a fair CSV estimate; the block size bounds memory.
        block = max(1 << 16, min(chunk_rows * 100, 1 << 28))
        reader = pacsv.open_csv(
            p,
            read_options=pacsv.ReadOptions(block_size=block),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(columns),
                column_types=types,
                strings_can_be_null=True,
            ),
        )
        with reader:
            for rb in reader:
                yield _coerce(rb, string_columns, float_columns)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{p}: cannot parse: {exc}") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None


def _coerce(
    rb: pa.RecordBatch, string_columns: Sequence[str], float_columns: Sequence[str]
) -> pa.RecordBatch:
    arrays = []
    for name in rb.schema.names:
        col = rb.column(name)
        if name in string_columns and not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        elif name in float_columns and not pa.types.is_float64(col.type):
            try:
                col = pc.cast(col, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise DataError(
                    f"column '{name}' should be numeric but holds {col.type} values"
                ) from None
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=rb.schema.names)


def _encode_binary(col: pa.Array, positive: str) -> np.ndarray:
    """1 where the value equals the positive label, 0 elsewhere, -1 where missing."""
    null = col.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_string(col.type):
        try:
            as_num = pc.cast(col, pa.float64())
            col = as_num
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if pa.types.is_boolean(col.type):
        pos = positive.lower() in ("1", "true", "yes")
        hit = pc.equal(col, pa.scalar(pos)).fill_null(False)
    elif pa.types.is_string(col.type):
        hit = pc.equal(col, pa.scalar(positive)).fill_null(False)
    else:
        try:
            target = float(positive)
        except ValueError:
            target = float("nan")
        hit = pc.equal(pc.cast(col, pa.float64()), pa.scalar(target)).fill_null(False)
    out = hit.to_numpy(zero_copy_only=False).astype(np.int8)
    out[null] = -1
    return out


def _encode_codes(col: pa.Array, values: Sequence[str]) -> np.ndarray:
    """Index into ``values``; len(values) for an unseen value, len+1 for missing."""
    m = len(values)
    idx = pc.index_in(col, value_set=pa.array(list(values), pa.string()))
    codes = idx.fill_null(m).to_numpy(zero_copy_only=False).astype(np.int64)
    null = col.is_null().to_numpy(zero_copy_only=False)
    codes[null] = m + 1
    return codes


def iter_batches(
    path: str | Path, spec: MonitoringSpec, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Batch]:
    """Yield the file's rows in chunks, encoded against ``spec``."""
    from fedgov.spec import NumericFeature
    from fedgov.stats import Batch

    numeric = [f.name for f in spec.features if isinstance(f, NumericFeature)]
    categorical = {f.name: f.categories for f in spec.features if not isinstance(f, NumericFeature)}
    groups = {a.name: a.groups for a in spec.sensitive}
    strings = list(categorical) + [g for g in groups if g not in categorical]
    floats = numeric + ([spec.score] if spec.score else [])
    for rb in iter_record_batches(
        path, spec.columns(), string_columns=strings, float_columns=floats, chunk_rows=chunk_rows
    ):
        cols = {name: rb.column(name) for name in rb.schema.names}
        codes: dict[str, np.ndarray] = {}
        for name, cats in categorical.items():
            codes[name] = _encode_codes(cols[name], cats)
        for name, grp in groups.items():
            codes[name] = _encode_codes(cols[name], grp)
        yield Batch(
            n_rows=rb.num_rows,
            numeric={
                n: pc.fill_null(cols[n], float("nan")).to_numpy(zero_copy_only=False)
                for n in numeric
            },
            codes=codes,
            y_true=_encode_binary(cols[spec.label], spec.positive_label),
            y_pred=_encode_binary(cols[spec.prediction], spec.positive_label),
            score=(
                pc.fill_null(cols[spec.score], float("nan")).to_numpy(zero_copy_only=False)
                if spec.score
                else None
            ),
        )


def read_columns(
    path: str | Path, *, string_columns: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Read a whole (reference) file into numpy columns: numbers as float64, others as str."""
    p = Path(path)
    _check_file(p)
    names = _schema_names(p, _kind(p))
    out: dict[str, list[pa.Array]] = {n: [] for n in names}
    for rb in iter_record_batches(p, names, string_columns=string_columns):
        for n in names:
            out[n].append(rb.column(n))
    result: dict[str, np.ndarray] = {}
    for n, chunks in out.items():
        arr = pa.chunked_array(chunks) if chunks else pa.chunked_array([], pa.null())
        t = arr.type
        if n not in string_columns and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            result[n] = pc.fill_null(pc.cast(arr, pa.float64()), float("nan")).to_numpy()
        else:
            s = pc.cast(arr, pa.string()) if not pa.types.is_string(t) else arr
            result[n] = np.array(s.to_pylist(), dtype=object)
    return result


def file_digest(path: str | Path) -> str:
    """sha256 of the file's bytes: lineage for a report, never the data itself."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def progress_enabled() -> bool:
    return sys.stderr.isatty()
