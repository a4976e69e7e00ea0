"""Streaming readers: CSV or Parquet files, read in chunks, encoded against a spec.

Memory stays bounded by the chunk size (``chunk_rows``): each chunk is read
as an Arrow table, encoded into a :class:`fedgov.stats.Batch` (floats and
small integer codes), folded into statistics by the caller, and dropped.

* Parquet: consecutive row groups are read together up to ``chunk_rows``
  rows (one call, columns decoded in parallel by Arrow); a row group larger
  than a chunk is streamed in ``chunk_rows`` slices. String columns the spec
  reads as categories are read dictionary-encoded, so no per-row string is
  ever built.
* CSV: the file is read sequentially in pieces of at most 8 MB cut at the
  last newline (Arrow's own rule when values hold no newlines); each piece
  is parsed by Arrow on all cores, and parsed pieces are gathered into
  chunks of ``chunk_rows`` rows. Arrow's streaming CSV reader is not used:
  its read-ahead pulls the whole file into memory when parsing is slower
  than reading.

Values are compared as Arrow renders them as strings (``1.0`` -> ``"1"``),
so a spec derived from a CSV file matches the same data stored as Parquet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fedgov.data._ahead import read_ahead as ahead
from fedgov.data._csv import csv_header, csv_tables
from fedgov.data._encode import count_the_rest, encode_arrow
from fedgov.data._progress import Progress
from fedgov.errors import DataError
from fedgov.spec import plain_number
from fedgov.stats._outcomes import UndeclaredValues, declared_outcomes

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from fedgov.spec import MonitoringSpec
    from fedgov.stats import Batch, WindowStats

__all__ = [
    "DATA_SUFFIXES",
    "DEFAULT_CHUNK_ROWS",
    "file_digest",
    "fold_file",
    "iter_batches",
    "iter_record_batches",
    "read_columns",
]

DATA_SUFFIXES = (".csv", ".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 262_144
"""Rows per chunk: large enough that per-chunk Python overhead is noise
(about 40 numpy calls per chunk), small enough that a chunk of a few dozen
float columns stays near 100 MB (see benchmarks/bench_memory.py)."""

_DICT = pa.dictionary(pa.int32(), pa.string())


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise DataError(f"{path}: unsupported file type '{suffix}'; use .csv or .parquet")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")


def _check_columns(path: Path, present: Sequence[str], columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing} named by the spec; "
            f"the file has {list(present[:20])}{'...' if len(present) > 20 else ''}. "
            "Check the spec matches this data, or re-derive it with `fedgov spec`."
        )


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


# -- Parquet ---------------------------------------------------------------------------
def _open_parquet(path: Path, **options: object) -> pq.ParquetFile:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, **options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from None


def _row_group_plan(pf: pq.ParquetFile, chunk_rows: int) -> list[list[int]]:
    """Consecutive row groups, packed into reads of at most ``chunk_rows`` rows
    (a larger row group is alone in its read, and is streamed)."""
    plan: list[list[int]] = []
    rows = 0
    for i in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        if n == 0:
            continue
        if plan and rows + n <= chunk_rows:
            plan[-1].append(i)
            rows += n
        else:
            plan.append([i])
            rows = n
    return plan


def _parquet_tables(
    path: Path,
    columns: Sequence[str],
    dictionary_columns: Sequence[str],
    chunk_rows: int,
    progress: Progress,
) -> Iterator[pa.Table]:
    pf = _open_parquet(path)
    schema = pf.schema_arrow
    _check_columns(path, schema.names, columns)
    as_dict = [c for c in dictionary_columns if _is_string(schema.field(c).type)]
    # No pre-buffering: it would keep a whole row group's compressed bytes
    # alive beside the decoded chunk (about 2x the memory, for no CPU saved
    # on a local file), and read a row group larger than a chunk whole.
    pf = _open_parquet(
        path, metadata=pf.metadata, read_dictionary=as_dict or None, pre_buffer=False
    )
    progress.total = pf.metadata.num_rows or None
    cols = list(columns)
    for groups in _row_group_plan(pf, chunk_rows):
        if pf.metadata.row_group(groups[0]).num_rows <= chunk_rows:
            table = pf.read_row_groups(groups, columns=cols)
            progress.advance(table.num_rows)
            yield table
            del table  # before reading the next: one chunk in memory, not two
            continue
        for rb in pf.iter_batches(batch_size=chunk_rows, row_groups=groups, columns=cols):
            progress.advance(rb.num_rows)
            yield pa.Table.from_batches([rb])


# -- public API ------------------------------------------------------------------------
def _tables(
    path: str | Path,
    columns: Sequence[str],
    *,
    string_columns: Sequence[str],
    float_columns: Sequence[str],
    dictionary: bool,
    chunk_rows: int,
    progress: Progress,
) -> Iterator[pa.Table]:
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    p = Path(path)
    _check_file(p)
    kind = _kind(p)
    try:
        if kind == "parquet":
            wanted = [c for c in string_columns if c in columns] if dictionary else []
            yield from _parquet_tables(p, columns, wanted, chunk_rows, progress)
        else:
            types: dict[str, pa.DataType] = {
                c: (_DICT if dictionary else pa.string()) for c in string_columns
            }
            types.update({c: pa.float64() for c in float_columns})
            names = csv_header(p)
            _check_columns(p, names, columns)
            yield from csv_tables(p, names, columns, types, chunk_rows, progress)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"{p}: cannot parse: {exc}") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None
    finally:
        progress.close()


def iter_record_batches(
    path: str | Path,
    columns: Sequence[str],
    *,
    string_columns: Sequence[str] = (),
    float_columns: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Yield record batches of at most ``chunk_rows`` rows with ``columns``.

    ``string_columns`` come as strings, ``float_columns`` as float64; a
    missing column, or a file that does not parse, is a DataError naming it.
    """
    strings = set(string_columns)
    floats = set(float_columns)
    for table in _tables(
        path,
        columns,
        string_columns=string_columns,
        float_columns=float_columns,
        dictionary=False,
        chunk_rows=chunk_rows,
        progress=Progress(None, enabled=False),
    ):
        for rb in table.to_batches():
            yield _coerce(Path(path), rb, strings, floats)


def _coerce(
    path: Path, rb: pa.RecordBatch, string_columns: set[str], float_columns: set[str]
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
                    f"{path}: column '{name}' should be numeric but holds {col.type} values"
                ) from None
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=rb.schema.names)


def iter_batches(
    path: str | Path,
    spec: MonitoringSpec,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = False,
    read_ahead: bool = False,
) -> Iterator[Batch]:
    """Yield the file's rows in chunks of at most ``chunk_rows``, encoded against ``spec``.

    With ``progress``, a bar is drawn on stderr while the scan runs, if
    stderr is a terminal and the scan lasts more than half a second.
    ``read_ahead`` reads and encodes the next chunk in a background thread
    while the caller folds this one. It holds two chunks in memory instead
    of one and pays only when a core is otherwise idle; on the shared
    2-core benchmark machine it measured no faster, hence off by default
    (see benchmarks/bench_stats.py).
    """
    chunks = _encoded(Path(path), spec, chunk_rows=chunk_rows, progress=progress)
    return ahead(chunks) if read_ahead else chunks


def _encoded(p: Path, spec: MonitoringSpec, *, chunk_rows: int, progress: bool) -> Iterator[Batch]:
    from fedgov.spec import NumericFeature

    categorical = [f.name for f in spec.features if not isinstance(f, NumericFeature)]
    strings = categorical + [a.name for a in spec.sensitive if a.name not in categorical]
    strings += [c for c in _outcomes_as_text(spec) if c not in strings]
    floats = [f.name for f in spec.features if isinstance(f, NumericFeature)]
    if spec.score:
        floats.append(spec.score)
    bar = Progress(
        None,
        unit="bytes" if p.suffix.lower() == ".csv" else "rows",
        label=p.name,
        enabled=None if progress else False,
    )
    tables = _tables(
        p,
        spec.columns(),
        string_columns=strings,
        float_columns=floats,
        dictionary=True,
        chunk_rows=chunk_rows,
        progress=bar,
    )
    for table in tables:
        try:
            batch = encode_arrow(spec, table)
        except UndeclaredValues as exc:
            del table
            count_the_rest(exc, tables, spec)
            raise DataError(f"{p}: {exc}") from None
        except DataError as exc:
            raise DataError(f"{p}: {exc}") from None
        del table
        yield batch
        del batch


def _outcomes_as_text(spec: MonitoringSpec) -> list[str]:
    """Outcome columns read from CSV as written: those whose declared values are all
    numbers. A value is then checked as it is in the file (Arrow would read ``1 ``
    as the number 1), and a word after the first 8 MB is refused and counted rather
    than failing the parse of a numeric column; declared numbers match their text
    exactly as Arrow would have parsed it, so the counts do not change. Columns
    declaring words (``true``, ``yes``) keep Arrow's type inference, which turns
    ``true``/``false`` into booleans as before."""
    return [
        d.column
        for d in declared_outcomes(spec)
        if d is not None and all(plain_number(v) is not None for v in d.values)
    ]


def fold_file(
    path: str | Path,
    spec: MonitoringSpec,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = False,
    read_ahead: bool = False,
) -> WindowStats:
    """Statistics of every row of the file under ``spec``, one chunk in memory at a time
    (two with ``read_ahead``; see :func:`iter_batches`)."""
    from fedgov.stats import WindowStats

    stats = WindowStats.zero(spec)
    batches = iter_batches(
        path, spec, chunk_rows=chunk_rows, progress=progress, read_ahead=read_ahead
    )
    for batch in batches:
        stats = stats.fold(spec, batch)
        del batch  # not held while the next chunk is read
    return stats


def read_columns(path: str | Path, *, string_columns: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read a whole (reference) file into numpy columns: numbers as float64, others as str."""
    p = Path(path)
    _check_file(p)
    try:
        if _kind(p) == "parquet":
            names = list(_open_parquet(p).schema_arrow.names)
        else:
            names = csv_header(p)
    except OSError as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None
    out: dict[str, list[pa.Array]] = {n: [] for n in names}
    for rb in iter_record_batches(p, names, string_columns=string_columns):
        for n in names:
            out[n].append(rb.column(n))
    result: dict[str, np.ndarray] = {}
    for n, chunks in out.items():
        types = [c.type for c in chunks]
        numeric = (
            n not in string_columns
            and any(not pa.types.is_null(t) for t in types)
            and all(
                pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)
                for t in types
            )
        )
        if numeric:
            parts = [
                pc.fill_null(pc.cast(c, pa.float64()), float("nan")).to_numpy(zero_copy_only=False)
                for c in chunks
            ]
            result[n] = np.concatenate(parts)
        else:
            strs = [c if pa.types.is_string(c.type) else pc.cast(c, pa.string()) for c in chunks]
            result[n] = np.array(pa.chunked_array(strs, pa.string()).to_pylist(), dtype=object)
    return result


def file_digest(path: str | Path) -> str:
    """sha256 of the file's bytes: lineage for a report, never the data itself."""
    h = hashlib.sha256()
    buf = bytearray(1 << 22)
    view = memoryview(buf)
    try:
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                h.update(view[:n])
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    return h.hexdigest()
