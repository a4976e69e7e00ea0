"""Reading local data in chunks, encoded against a monitoring spec.

:func:`iter_batches` streams a CSV or Parquet file as encoded
:class:`~fedgov.stats.Batch` chunks (bounded memory, optional progress bar
on a terminal); :func:`fold_file` folds them into
:class:`~fedgov.stats.WindowStats`; :func:`encode_arrow` encodes an Arrow
table already in memory; :func:`read_columns` loads a reference file whole
to derive a spec from; :func:`file_digest` is the lineage hash of an input.
The Spark engine (optional, ``fedgov[spark]``) folds a table or Parquet path on a
cluster: :func:`open_spark_window` names a :class:`SparkInput`'s window, and
:func:`fold_spark` folds it into the same statistics.
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
from fedgov.data._spark import fold_spark, open_spark_window, spark_session
from fedgov.data._spark_window import SparkInput, SparkWindow

__all__ = [
    "DATA_SUFFIXES",
    "DEFAULT_CHUNK_ROWS",
    "Progress",
    "SparkInput",
    "SparkWindow",
    "encode_arrow",
    "file_digest",
    "fold_file",
    "fold_spark",
    "iter_batches",
    "iter_record_batches",
    "open_spark_window",
    "read_columns",
    "spark_session",
]
