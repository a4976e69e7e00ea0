"""The Spark engine: a window too big for one process, folded on the cluster.

Each partition of the window's DataFrame is folded where it lives, with the
same code the local engine runs on a file: Spark hands the partition's rows to
a Python worker as Arrow record batches (``mapInArrow``), they are gathered into
chunks of ``chunk_rows`` rows, encoded by :func:`fedgov.data.encode_arrow` and
folded by :meth:`fedgov.stats.WindowStats.fold`; the partition's statistics go
back to the driver as one binary row (their JSON document), where
:meth:`~fedgov.stats.WindowStats.merge` adds them up. Counts are sums over cells
the spec fixes, so the result equals the local engine's bit for bit, whatever the
partitioning; the rest of the pipeline (privacy, policy, report) does not know
which engine counted.

What identifies a Spark window (a table has no file digest) is described in
:mod:`fedgov.data._spark_window`.

pyspark is optional (``pip install 'fedgov[spark]'``) and imported only here,
only when the engine is asked for; it needs a Java runtime (17 or later). The
executors run fedgov too: install it where they run. On a ``local`` master the
workers run this process's Python, so the driver's environment is theirs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fedgov.data._encode import count_the_rest, encode_arrow
from fedgov.data._readers import DEFAULT_CHUNK_ROWS
from fedgov.data._spark_window import SparkInput, SparkWindow, first_line, open_window
from fedgov.errors import ConfigError, DataError
from fedgov.stats._outcomes import UndeclaredValues, declared_outcomes

if TYPE_CHECKING:
    from fedgov.spec import MonitoringSpec
    from fedgov.stats import WindowStats

__all__ = ["fold_spark", "open_spark_window", "spark_session"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'fedgov[spark]' (and a Java 17+ runtime, e.g. default-jre-headless)"
_OUT_SCHEMA = "kind string, payload binary"

# Settings the engine needs; the session's own conf (``SparkInput.conf``) comes after.
_SESSION_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Spark's warnings carry JVM stack traces (a missing path logs one before the error
    # we report); errors only, unless the source's conf says otherwise.
    "spark.log.level": "ERROR",
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(DEFAULT_CHUNK_ROWS),
}


def spark_session(source: SparkInput) -> Any:
    """The process's SparkSession (created on ``source.master`` with ``source.conf`` the
    first time; an active session is reused as it is). No pyspark, or no Java, is a
    :class:`ConfigError` (exit code 2) that says what to install."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(f"{source.name}: engine spark needs pyspark: {INSTALL_HINT}") from None
    builder = SparkSession.builder.master(source.master).appName("fedgov")
    for key, value in (*_SESSION_CONF.items(), *source.conf):
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # pyspark raises PySparkRuntimeError, or RuntimeError on old ones
        raise ConfigError(
            f"{source.name}: Spark did not start on master {source.master!r}: "
            f"{first_line(exc)}; check the master URL and {INSTALL_HINT}"
        ) from None
    context = session.sparkContext
    if source.master.startswith("local") and context.pythonExec == "python3":
        # pyspark's default worker is whatever `python3` is on PATH, not this venv
        # (PYSPARK_PYTHON overrides it, and then we leave it alone).
        context.pythonExec = sys.executable
    return session


def open_spark_window(source: SparkInput) -> SparkWindow:
    """The window of ``source`` as Spark reads it now (:func:`open_window`)."""
    return open_window(spark_session(source), source)


def fold_spark(
    window: SparkWindow, spec: MonitoringSpec, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> WindowStats:
    """Statistics of every row of ``window`` under ``spec``, each partition folded on
    the cluster and the partitions merged here (module docstring)."""
    from pyspark.errors import PySparkException

    from fedgov.stats import WindowStats

    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    frame = window.frame
    missing = [c for c in spec.columns() if c not in frame.columns]
    if missing:
        raise DataError(
            f"{window.name}: missing column(s) {missing} named by the spec; it has "
            f"{frame.columns[:20]}. Check the spec matches this data, or re-derive it "
            "with `fedgov spec`."
        )
    fold = partial(fold_partition, spec, chunk_rows)
    try:
        rows = frame.select(*spec.columns()).mapInArrow(fold, _OUT_SCHEMA).collect()
    except PySparkException as exc:
        raise DataError(f"{window.name}: Spark could not fold it: {first_line(exc)}") from None
    stats = WindowStats.zero(spec)
    undeclared: dict[str, Counter[str]] = {}
    for kind, payload in rows:
        doc = json.loads(bytes(payload))
        if kind == "stats":
            stats = stats.merge(WindowStats.from_dict(doc))
        elif kind == "undeclared":
            for column, counts in doc.items():
                undeclared.setdefault(column, Counter()).update(counts)
        else:
            raise DataError(f"{window.name}: {doc}")
    if undeclared:
        found = {
            d: undeclared[d.column]
            for d in declared_outcomes(spec)
            if d is not None and d.column in undeclared
        }
        raise DataError(f"{window.name}: {UndeclaredValues(found)}")
    log.debug("%s: %d rows from %d partitions", window.name, stats.rows, len(rows))
    return stats


# -- on the executors --------------------------------------------------------------------
def fold_partition(
    spec: MonitoringSpec, chunk_rows: int, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """One partition's rows -> one row: ``stats`` with the statistics' JSON document,
    ``undeclared`` with the refused outcome values counted over the partition, or
    ``error`` with a :class:`DataError`'s message (never a traceback)."""
    from fedgov.stats import WindowStats

    stats = WindowStats.zero(spec)
    try:
        for table in _chunks(batches, chunk_rows):
            stats = stats.fold(spec, encode_arrow(spec, table))
            del table
    except UndeclaredValues as exc:
        count_the_rest(exc, _chunks(batches, chunk_rows), spec)  # the rest of the partition
        counts = {d.column: dict(c) for d, c in exc.found.items()}
        yield _row("undeclared", counts)
        return
    except DataError as exc:
        yield _row("error", str(exc))
        return
    yield _row("stats", stats.to_dict())


def _chunks(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Record batches gathered into tables of about ``chunk_rows`` rows (Spark's
    batches may be smaller; a fold per small batch would cost its fixed overhead)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for rb in batches:
        pending.append(rb)
        rows += rb.num_rows
        if rows >= chunk_rows:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _row(kind: str, doc: Any) -> pa.RecordBatch:
    payload = json.dumps(doc, separators=(",", ":")).encode()
    return pa.RecordBatch.from_arrays(
        [pa.array([kind], pa.string()), pa.array([payload], pa.binary())],
        names=["kind", "payload"],
    )
