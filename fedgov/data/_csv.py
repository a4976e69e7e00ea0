"""CSV files read in pieces of at most 8 MB, gathered into chunks of ``chunk_rows`` rows.

Each piece is cut at its last newline (Arrow's own rule when values hold no
newlines) and parsed by Arrow on all cores. Arrow's streaming CSV reader is
not used: its read-ahead pulls the whole file into memory when parsing is
slower than reading, and one big buffer per chunk costs more in page faults
than the parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from fedgov.data._progress import Progress
from fedgov.errors import DataError

__all__ = ["csv_header", "csv_tables"]

_CSV_SAMPLE = 1 << 20
_CSV_MIN_PIECE = 1 << 16
_CSV_MAX_PIECE = 1 << 23


def _csv_piece_size(path: Path, chunk_rows: int) -> int:
    """Bytes read and parsed at a time: about ``chunk_rows`` rows, at most 8 MB.

    Small pieces keep the text and Arrow's parse buffers small and reused
    (a fresh 100 MB buffer per chunk costs more in page faults than the
    parse); parsed pieces are gathered into chunks of ``chunk_rows`` rows.
    """
    with open(path, "rb") as fh:
        sample = fh.read(_CSV_SAMPLE)
    per_row = len(sample) / max(sample.count(b"\n"), 1)
    return int(min(max(chunk_rows * per_row, _CSV_MIN_PIECE), _CSV_MAX_PIECE))


def _csv_blocks(fh: BinaryIO, block_size: int) -> Iterator[pa.Buffer]:
    """The file's bytes in blocks that end at a newline (the last may not).

    Each block is one fresh allocation (the unfinished last line of the
    previous block, then ``block_size`` bytes read into place), and the
    yielded buffer is its only reference, so it is freed as soon as the
    caller has parsed it.
    """
    carry = b""
    while True:
        block = bytearray(len(carry) + block_size)
        block[: len(carry)] = carry
        n = fh.readinto(memoryview(block)[len(carry) :])  # type: ignore[attr-defined]
        if not n:
            if carry.strip():
                yield pa.py_buffer(carry)
            return
        end = len(carry) + n
        cut = block.rfind(b"\n", 0, end) + 1
        if cut == 0:  # a row longer than the block: read on
            carry = bytes(block[:end])
            continue
        carry = bytes(block[cut:end])
        pending = [memoryview(block)[:cut]]
        del block
        yield pa.py_buffer(pending.pop())


_CSV_COLUMN = re.compile(r"CSV column #(\d+)")


def _csv_error(path: Path, exc: Exception, names: Sequence[str]) -> DataError:
    text = str(exc)
    m = _CSV_COLUMN.search(text)
    if m and names and int(m.group(1)) < len(names):
        text = f"column '{names[int(m.group(1))]}': {text}"
    return DataError(f"{path}: cannot parse as CSV: {text}")


def csv_header(path: Path) -> list[str]:
    """Column names from the first line of a CSV file."""
    import pyarrow.csv as pacsv

    with open(path, "rb") as fh:
        head = fh.read(_CSV_SAMPLE)
        while b"\n" not in head:
            more = fh.read(_CSV_SAMPLE)
            if not more:
                break
            head += more
    line = head[: head.find(b"\n") + 1] if b"\n" in head else head
    if not line.strip():
        raise DataError(f"{path}: empty CSV file: no header line")
    try:  # one line: no need to start Arrow's thread pool for it
        table = pacsv.read_csv(
            pa.BufferReader(line), read_options=pacsv.ReadOptions(use_threads=False)
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    return list(table.schema.names)


def csv_tables(
    path: Path,
    names: Sequence[str],
    columns: Sequence[str],
    column_types: dict[str, pa.DataType],
    chunk_rows: int,
    progress: Progress,
) -> Iterator[pa.Table]:
    """Chunks of ``columns`` (the file's header is ``names``, see :func:`csv_header`)."""
    import pyarrow.csv as pacsv

    progress.total = path.stat().st_size or None
    types = dict(column_types)
    first = True
    done = 0
    parsed: list[pa.Table] = []  # pieces not yet handed out, fewer than chunk_rows rows
    rows = 0
    with open(path, "rb") as fh:
        for buf in _csv_blocks(fh, _csv_piece_size(path, chunk_rows)):
            # Arrow parses the piece in 1 MB blocks on all cores.
            read = pacsv.ReadOptions(
                use_threads=True, block_size=1 << 20, column_names=list(names), skip_rows=int(first)
            )
            convert = pacsv.ConvertOptions(
                include_columns=list(columns), column_types=types, strings_can_be_null=True
            )
            done += buf.size
            try:
                table = pacsv.read_csv(
                    pa.BufferReader(buf), read_options=read, convert_options=convert
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise _csv_error(path, exc, names) from None
            del buf
            if first:  # later pieces keep the first piece's types, as Arrow's own reader does
                first = False
                for field in table.schema:
                    if field.name not in types and not pa.types.is_null(field.type):
                        types[field.name] = field.type
            parsed.append(table)
            rows += table.num_rows
            del table
            progress.update(done)
            while rows >= chunk_rows:
                whole = _concat_tables(parsed)
                parsed = [whole.slice(chunk_rows)]
                rows -= chunk_rows
                chunk = whole.slice(0, chunk_rows)
                del whole
                yield chunk
                del chunk
    if rows:
        yield _concat_tables(parsed)


def _concat_tables(tables: list[pa.Table]) -> pa.Table:
    """One table, zero-copy; a column empty in the first piece takes a later type."""
    return pa.concat_tables(tables, promote_options="default")
