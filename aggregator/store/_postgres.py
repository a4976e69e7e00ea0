"""PostgreSQL store (at scale): the same schema and queries as SQLite, over a connection pool.

The schema and the queries are shared with SQLite (:mod:`._schema`,
:mod:`._reports`, :mod:`._jobs`, :mod:`._registry`, :mod:`._audit`), written with ``?``
placeholders that :class:`_Cursor` hands to psycopg as ``%s``. What is
PostgreSQL's own is how it connects and writes reports:

* a connection pool: gRPC handlers call the store from many worker threads at
  once, and psycopg_pool hands each call its own connection, so concurrent
  ingests overlap and the server groups their commits. The pool discards
  broken connections and reconnects, so the aggregator survives a database
  restart;
* ``add_report`` in one statement (one round trip, one transaction), and
  ``add_reports`` as that statement once per report, pipelined, in one transaction:
  ``INSERT ... ON CONFLICT (report_id) DO NOTHING`` (a second insert of the
  same id waits for the first and then inserts nothing), its drift rows, the
  latest pointer, the silo's last_seen and the report's audit head (written
  for a duplicate too, see :mod:`._audit`), all from data-modifying CTEs;
* schema setup under an advisory lock, so that aggregators starting together
  on one database do not race to create it.

Each method is one transaction, committed before it returns, and concurrency
is settled by the database, not by the process, so several aggregators may
share one database (see :mod:`._jobs` for the locks the dialect adds).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from aggregator.store._audit import AuditQueries
from aggregator.store._dialect import POSTGRESQL, to_format
from aggregator.store._jobs import JobQueries
from aggregator.store._listen import CommandListener
from aggregator.store._registry import RegistryQueries
from aggregator.store._reports import ReportReads, drift_rows
from aggregator.store._rounds import RoundQueries
from aggregator.store._schema import DRIFT_COLS, HEAD_COLS, REPORT_COLS, create_schema
from aggregator.store._sql import Cursor, Row
from fedgov.errors import ConfigError
from fedgov.report import Report, now_ms
from fedgov.wire import report_to_bytes

__all__ = ["PostgresStore", "redact_url"]

log = logging.getLogger(__name__)

# Advisory lock key of schema setup (open_job's come from the dialect's subject lock).
_SCHEMA_LOCK = 0x66656467_6F760001  # "fedgov" + 1

# add_report in one statement, so one round trip and no BEGIN/COMMIT: the report
# (nothing else when its id is stored already: a concurrent insert of the same id
# waits for the first and then inserts nothing), its drift rows, the latest pointer
# (the upsert waits for a concurrent one on the same row, then compares with what
# that one committed) and the silo's last_seen. One statement is one transaction.
_ADD_REPORT = f"""
WITH ins AS (
    INSERT INTO reports ({REPORT_COLS})
    VALUES (%(report_id)s, %(silo_id)s, %(jurisdiction)s, %(model_id)s, %(model_version)s,
        %(spec_digest)s, %(window_start_ms)s, %(window_end_ms)s, %(received_ms)s, %(allow)s,
        '', %(payload_pb)s)
    ON CONFLICT (report_id) DO NOTHING
    RETURNING report_id, silo_id, jurisdiction, model_id, model_version, window_end_ms,
        received_ms, seq
), drift AS (
    INSERT INTO feature_drift ({DRIFT_COLS})
    SELECT ins.report_id, ins.silo_id, ins.jurisdiction, ins.model_id, ins.model_version,
        f.feature, f.psi, f.psi_pvalue, ins.window_end_ms
    FROM ins, unnest(%(features)s::text[], %(psi)s::float8[], %(psi_pvalue)s::float8[])
        AS f(feature, psi, psi_pvalue)
), latest AS (
    INSERT INTO latest_reports (silo_id, model_id, model_version, report_id, window_end_ms,
        received_ms, seq)
    SELECT silo_id, model_id, model_version, report_id, window_end_ms, received_ms, seq FROM ins
    ON CONFLICT (silo_id, model_id, model_version) DO UPDATE SET
        report_id = excluded.report_id, window_end_ms = excluded.window_end_ms,
        received_ms = excluded.received_ms, seq = excluded.seq
    WHERE (excluded.window_end_ms, excluded.received_ms, excluded.seq)
        > (latest_reports.window_end_ms, latest_reports.received_ms, latest_reports.seq)
), seen AS (
    UPDATE silos SET last_seen_ms = ins.received_ms FROM ins WHERE silos.silo_id = ins.silo_id
), head AS (
    INSERT INTO audit_heads ({HEAD_COLS})
    SELECT %(silo_id)s::text, %(head_seq)s::bigint, %(head_hash)s::text, %(report_id)s::text,
        %(received_ms)s::bigint
    WHERE %(head_seq)s::bigint IS NOT NULL
    ON CONFLICT (silo_id, seq, hash) DO NOTHING
)
SELECT count(*) FROM ins
"""


class PostgresStore(ReportReads, JobQueries, RegistryQueries, AuditQueries, RoundQueries):
    """The aggregator's state in PostgreSQL; safe to share between threads."""

    dialect = POSTGRESQL

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 16, connect_timeout: float = 10.0
    ) -> None:
        self._where = _describe(url)
        self._url = url
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=int(connect_timeout)) as c:
                with c.transaction(), c.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    create_schema(_Cursor(cur), POSTGRESQL)
        except psycopg.Error as exc:
            raise ConfigError(_connect_advice(self._where, url, exc)) from None
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            name="fedgov-store",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise ConfigError(_connect_advice(self._where, url, exc)) from None
        log.info(
            "PostgreSQL store at %s (pool of %d-%d connections)", self._where, min_size, max_size
        )

    def __repr__(self) -> str:
        return f"PostgresStore({self._where})"

    def add_report(self, report: Report) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(_ADD_REPORT, _report_params(report, now_ms())).fetchone()
        return bool(row and row[0])

    def command_listener(
        self,
        on_silos: Callable[[Iterable[str]], object],
        on_connect: Callable[[], object],
        *,
        name: str,
        url: str | None = None,
    ) -> CommandListener:
        """A listener for new commands on its own connection (to ``url``, else the store's:
        a LISTEN needs a session, so not through a transaction-pooling proxy)."""
        return CommandListener(url or self._url, on_silos, on_connect, name=name)

    def add_reports(self, reports: Sequence[Report]) -> list[bool]:
        """The statement of :meth:`add_report` once per report, pipelined, in one transaction
        (a second report of the same id, in the batch or stored, inserts nothing)."""
        if len(reports) <= 1:
            return [self.add_report(r) for r in reports]
        t = now_ms()
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(_ADD_REPORT, [_report_params(r, t) for r in reports], returning=True)
            added = []
            while True:
                row = cur.fetchone()
                added.append(bool(row and row[0]))
                if not cur.nextset():
                    break
        return added

    def close(self) -> None:
        self._pool.close()

    # -- connections -----------------------------------------------------------
    def _query(self, sql: str, args: Sequence[object] = (), *, binary: bool = False) -> list[Row]:
        """One statement on a pooled connection (autocommit: one round trip)."""
        with self._pool.connection() as conn, conn.cursor(binary=binary) as cur:
            return cur.execute(to_format(sql), args).fetchall()

    @contextmanager
    def _write(self) -> Iterator[_Cursor]:
        """One transaction on a pooled connection: COMMIT on return, ROLLBACK on error."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _Cursor(cur)

    _read = _write  # a read of several statements is the same kind of transaction


def _report_params(report: Report, received_ms: int) -> dict[str, Any]:
    """The parameters of :data:`_ADD_REPORT` for one report."""
    drift = drift_rows(report)
    head = report.audit_head
    return {
        "report_id": report.report_id,
        "silo_id": report.silo_id,
        "jurisdiction": report.jurisdiction,
        "model_id": report.model_id,
        "model_version": report.model_version,
        "spec_digest": report.spec_digest,
        "window_start_ms": report.window_start_ms,
        "window_end_ms": report.window_end_ms,
        "received_ms": received_ms,
        "allow": bool(report.decision.allow),
        "payload_pb": report_to_bytes(report),
        "features": [d[0] for d in drift],
        "psi": [d[1] for d in drift],
        "psi_pvalue": [d[2] for d in drift],
        "head_seq": None if head is None else head.seq,
        "head_hash": None if head is None else head.hash,
    }


class _Cursor:
    """A psycopg cursor that runs the shared ``?`` statements (:func:`to_format`)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any], /) -> Cursor:
        return self._cur.execute(to_format(sql), params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> None:
        self._cur.executemany(to_format(sql), params)


def _describe(url: str) -> str:
    """``user@host:port/db`` for messages and logs; never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return redact_url(url)
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    user = parts.get("user")
    where = f"{host}:{port}/{parts.get('dbname') or user or '?'}"
    return f"{user}@{where}" if user else where


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    url = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def _connect_advice(where: str, url: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    if "does not exist" in reason and "database" in reason:
        todo = "create the database (createdb), or fix the database name in the URL"
    elif "role" in reason and "does not exist" in reason:
        todo = "fix the user in the URL, or create the role (createuser)"
    elif "permission denied" in reason:
        todo = (
            "let the user create tables (GRANT CREATE ON SCHEMA ...), or create them as the owner"
        )
    elif "authentication" in reason or "password" in reason:
        todo = "check the user and password in the URL (postgresql://USER:PASSWORD@HOST:PORT/DB)"
    elif isinstance(exc, psycopg.OperationalError):
        todo = "check that the server is running and that host and port in the URL are right"
    else:
        todo = "check the URL, which reads postgresql://USER:PASSWORD@HOST:PORT/DB"
    return f"PostgreSQL store at {where}: {reason}; {todo}"
