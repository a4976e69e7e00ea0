"""Reading local data in chunks, encoded against a monitoring spec.

:func:`iter_batches` streams a CSV or Parquet file as encoded
:class:`~fedgov.stats.Batch` chunks (bounded memory, optional progress bar
on a terminal); :func:`fold_file` folds them into
:class:`~fedgov.stats.WindowStats`; :func:`encode_arrow` encodes an Arrow
table already in memory; :func:`read_columns` loads a reference file whole
to derive a spec from; :func:`file_digest` is the lineage hash of an input.
"""

from fedgov.data._encode import encode_arrow
from fedgov.data._progress import Progress
from fedgov.data._readers import (
    DATA_SUFFIXES,
    DEFAULT_CHUNK_ROWS,
    file_digest,
    fold_file,
    iter_batches,
    iter_record_batches,
    read_columns,
)

__all__ = [
    "DATA_SUFFIXES",
    "DEFAULT_CHUNK_ROWS",
    "Progress",
    "encode_arrow",
    "file_digest",
    "fold_file",
    "iter_batches",
    "iter_record_batches",
    "read_columns",
]
