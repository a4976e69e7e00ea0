"""A window read by Spark: a catalog table or a Parquet path, and what identifies it.

A local window is one file, and its sha256 is the lineage of its report (and the
seed of the report id). A Spark table has no file digest, and hashing every byte
of a table too big for one machine would cost a second full read, so the window's
identity is **the sorted list of the files Spark reads** for it
(``DataFrame.inputFiles()``), each with its size in bytes and modification time in
ms, as the table's file system reports them (Hadoop's ``FileStatus``: the same for
``file:``, ``hdfs:`` or ``s3a:``)::

    files:sha256("path\\tsize\\tmtime_ms\\n" for each file, sorted by path)

It changes when a file is added, removed, rewritten or touched, and not otherwise;
re-reading the same files gives the same report id, so the aggregator stores the
report once. A rewrite that keeps a file's path, size and modification time is not
seen (as the agent's local ledger would not see it either). A table with a snapshot
version (Delta, Iceberg) would be better named by that version; Delta is not
supported here yet (``delta-spark`` fetches its jars from Maven at run time, which
this project's machines cannot reach), so a table is always named by its files. A
table Spark reads from no file (a view over another source) has no identity here and
is refused.

The DataFrame that is identified is the one that is folded (its file list is fixed
when it is created), so a file that appears in between is in the next window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from fedgov.errors import DataError

__all__ = ["SparkInput", "SparkWindow", "open_window"]

DEFAULT_MASTER = "local[*]"


@dataclass(frozen=True)
class SparkInput:
    """Where a Spark window comes from: a catalog ``table`` or a Parquet ``path``
    (a file or folder, any URI Spark reads), and the cluster (``master``) with extra
    Spark settings (``conf``). Exactly one of ``table`` and ``path``."""

    table: str | None = None
    path: str | None = None
    master: str = DEFAULT_MASTER
    conf: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if (self.table is None) == (self.path is None):
            raise ValueError("a Spark input names exactly one of table and path")

    @property
    def name(self) -> str:
        """How messages and the ledger name it: ``table db.events`` or the path."""
        return f"table {self.table}" if self.table is not None else str(self.path)


@dataclass(frozen=True, eq=False)
class SparkWindow:
    """One window as Spark will read it: the DataFrame, its files and its identity."""

    source: SparkInput
    frame: Any = field(repr=False)  # pyspark.sql.DataFrame (pyspark is optional)
    files: tuple[tuple[str, int, int], ...]  # (path, size, mtime ms), sorted

    @property
    def name(self) -> str:
        return self.source.name

    def __str__(self) -> str:  # how logs name it, as they name a file by its path
        return self.source.name

    @property
    def identity(self) -> str:
        """``files:<sha256>`` of the sorted (path, size, mtime) lines (module docstring)."""
        h = hashlib.sha256()
        for path, size, mtime in self.files:
            h.update(f"{path}\t{size}\t{mtime}\n".encode())
        return f"files:{h.hexdigest()}"

    @property
    def modified_ms(self) -> int:
        """When the newest file was written: the window's start, as a file's mtime is."""
        return max(mtime for _, _, mtime in self.files)


def open_window(session: Any, source: SparkInput) -> SparkWindow:
    """The DataFrame of ``source`` on ``session`` and the files it reads; a table or
    path that does not exist, or reads no file, is a :class:`DataError` naming it."""
    from pyspark.errors import PySparkException

    try:
        if source.table is not None:
            frame = session.table(source.table)
        else:
            frame = session.read.parquet(source.path)
        paths = sorted(set(frame.inputFiles()))
    except PySparkException as exc:
        raise DataError(f"{source.name}: Spark cannot read it: {first_line(exc)}") from None
    if not paths:
        raise DataError(
            f"{source.name}: Spark reads it from no file, so it has no window identity "
            "(a report id needs one); point the silo at a file-based table or a Parquet path"
        )
    return SparkWindow(source, frame, tuple(_file_status(session, paths)))


def _file_status(session: Any, paths: list[str]) -> list[tuple[str, int, int]]:
    """(path, size, mtime ms) of each file, one listing per folder (not one call per
    file: a table of many files lists in a few JVM round trips)."""
    jvm = session.sparkContext._jvm
    conf = session.sparkContext._jsc.hadoopConfiguration()
    wanted = set(paths)
    by_folder: dict[str, list[str]] = {}
    for p in paths:
        by_folder.setdefault(str(PurePosixPath(p).parent) if "/" in p else p, []).append(p)
    found: dict[str, tuple[int, int]] = {}
    for members in by_folder.values():
        hpath = jvm.org.apache.hadoop.fs.Path(members[0]).getParent()
        fs = hpath.getFileSystem(conf)
        for st in fs.listStatus(hpath):
            full = st.getPath().toString()
            if full in wanted:
                found[full] = (int(st.getLen()), int(st.getModificationTime()))
        for p in members:  # a name the listing spells differently: ask for it alone
            if p not in found:
                st = fs.getFileStatus(jvm.org.apache.hadoop.fs.Path(p))
                found[p] = (int(st.getLen()), int(st.getModificationTime()))
    return [(p, *found[p]) for p in paths]


def first_line(exc: BaseException) -> str:
    """The first line of a Spark error (its JVM stack trace stays in the log)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
