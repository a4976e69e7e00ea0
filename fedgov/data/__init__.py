"""Reading local data in chunks, encoded against a monitoring spec."""

from fedgov.data._readers import (
    DATA_SUFFIXES,
    DEFAULT_CHUNK_ROWS,
    file_digest,
    iter_batches,
    iter_record_batches,
    read_columns,
)

__all__ = [
    "DATA_SUFFIXES",
    "DEFAULT_CHUNK_ROWS",
    "file_digest",
    "iter_batches",
    "iter_record_batches",
    "read_columns",
]
