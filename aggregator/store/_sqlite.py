"""SQLite store (the default): one file, WAL journal, every write committed.

The schema and the queries are shared with PostgreSQL (:mod:`._schema`,
:mod:`._reports`, :mod:`._jobs`, :mod:`._registry`, :mod:`._audit`). What is SQLite's own is
how it connects and writes:

* one writing connection behind a lock (SQLite has one writer at a time), and
  a reading connection per thread, which WAL lets read the last committed
  state while a write is in progress, so reads never queue behind a commit;
* ``add_report`` by group commit: concurrent calls queue, and whoever takes
  the write lock first commits all of them in one transaction; each caller
  returns after its commit (:mod:`._sqlite_reports` writes the batch).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aggregator.store._audit import AuditQueries
from aggregator.store._dialect import SQLITE
from aggregator.store._jobs import JobQueries
from aggregator.store._registry import RegistryQueries
from aggregator.store._reports import ReportReads
from aggregator.store._rounds import RoundQueries
from aggregator.store._schema import create_schema
from aggregator.store._sql import Row
from aggregator.store._sqlite_reports import PendingReport, insert_reports
from fedgov._sqlite import immediate
from fedgov.report import Report, now_ms

__all__ = ["SqliteStore"]


class SqliteStore(ReportReads, JobQueries, RegistryQueries, AuditQueries, RoundQueries):
    """Writes go through one connection guarded by a lock; reads do not wait for them.

    gRPC worker threads share the store. A write holds the lock through its
    commit, fsync included. Reads run on a connection of their own per thread.
    (A ``:memory:`` database has only the one connection.)
    """

    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._queue_lock = threading.Lock()
        self._queue: list[PendingReport] = []
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an ack means the report is on disk
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._write() as db:
            create_schema(db, SQLITE)

    def add_report(self, report: Report) -> bool:
        """Store a report once, committed before this returns (see :meth:`add_reports`)."""
        return self.add_reports([report])[0]

    def add_reports(self, reports: Sequence[Report]) -> list[bool]:
        """Store reports once each, committed before this returns (see :class:`PendingReport`).

        Concurrent calls are written together: the first caller to take the
        write lock writes every report queued by then in one transaction, so
        the commit (and its fsync) and the handovers of the lock and the GIL
        are paid once per batch instead of once per report. A caller's own
        reports always go in the same transaction.
        """
        mine = [PendingReport(r) for r in reports]  # encoded before taking any lock
        if not mine:
            return []
        with self._queue_lock:
            self._queue += mine
        with self._lock:
            if not mine[0].done:  # else an earlier caller wrote them (or failed to)
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    self._write_reports(batch)
                finally:
                    for p in batch:  # only if interrupted: no caller may wait in vain
                        if not p.done:
                            p.fail(RuntimeError("the write of this report was interrupted"))
        for p in mine:
            if p.error is not None:
                raise p.error
        return [p.added for p in mine]

    def _write_reports(self, batch: list[PendingReport]) -> None:
        """Write a batch in one transaction; if that fails, each report in its own."""
        try:
            with self._write() as db:
                insert_reports(db, batch, now_ms())
        except Exception as exc:  # noqa: BLE001 - retried one by one: only the culprit fails
            for p in batch:
                p.added = False
            if len(batch) == 1:
                batch[0].fail(exc)
                return
            for one in batch:
                self._write_reports([one])
            return
        for p in batch:
            p.done = True

    def command_listener(self, *_: object, **__: object) -> None:
        """None: a SQLite store serves one aggregator, which wakes its own streams."""
        return None

    def close(self) -> None:
        with self._lock, self._readers_lock:
            self._closed = True
            for _, reader in self._readers:
                reader.close()
            self._readers.clear()
            self._db.close()

    # -- connections -----------------------------------------------------------
    def _query(self, sql: str, args: Sequence[object] = (), *, binary: bool = False) -> list[Row]:
        """The rows of one statement on this thread's reading connection.

        A single statement reads one snapshot by itself, so this skips
        :meth:`_read`'s BEGIN and COMMIT: each call into sqlite3 releases and
        retakes the GIL, which under load is what costs.
        """
        if self.path == ":memory:":
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        return self._reader().execute(sql, args).fetchall()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """This thread's reading connection, in one read transaction (one snapshot)."""
        if self.path == ":memory:":
            with self._lock:
                yield self._db
            return
        db = self._reader()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The writing connection under the lock, in BEGIN IMMEDIATE ... COMMIT (or ROLLBACK)."""
        with immediate(self._db, self._lock) as db:
            yield db

    def _reader(self) -> sqlite3.Connection:
        """This thread's reading connection (autocommit), opened on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if self._closed:  # as the writer does: a closed store answers nothing
            raise sqlite3.ProgrammingError("Cannot operate on a closed store.")
        if db is None:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA query_only=ON")
            with self._readers_lock:
                # Threads come and go (the gRPC pool's stay): close the dead ones' readers.
                for thread, reader in [r for r in self._readers if not r[0].is_alive()]:
                    reader.close()
                    self._readers.remove((thread, reader))
                self._readers.append((threading.current_thread(), db))
            self._local.db = db
        return db
