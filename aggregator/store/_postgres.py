"""PostgreSQL store (at scale): the same contract as SQLite, over a connection pool.

gRPC handlers call the store from many worker threads at once. One connection
behind a lock (what SQLite does) would serialize every round trip and every
commit wait; psycopg_pool hands each call its own connection, so concurrent
ingests overlap and the server groups their commits. The pool discards broken
connections and reconnects, so the aggregator survives a database restart.

Each method is one transaction, committed before it returns. Concurrency is
settled by the database, not by the process, so several aggregators may share
one database:

* ``add_report``: ``INSERT ... ON CONFLICT (report_id) DO NOTHING``; a second
  insert of the same id waits for the first and then inserts nothing.
* ``open_job``: a transaction-scoped advisory lock on (model, version) makes
  "find the open job, else create it with its commands" atomic.
* ``ack_command``: ``UPDATE ... WHERE status = 'pending'``; only one ack wins.

Report payloads are the serialized ``fedgov.v1.Report`` (BYTEA ``payload_pb``):
a report reads back equal to what was stored, and storing a received report
needs no re-encoding. Rows written before that keep their JSON in ``payload``
(TEXT, not JSONB, which would reorder keys and reformat numbers) and still read.
``latest_reports`` points at the newest report of each (silo, model, version),
so the latest-report queries read O(silos) rows, not every report.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from aggregator.store._base import (
    OPEN_JOB_STATES,
    CentralDecisionRecord,
    CommandRecord,
    DecisionRecord,
    DriftRecord,
    JobRecord,
    MetricPoint,
    ModelVersionRecord,
    ReportRef,
    SiloRecord,
    check_transition,
)
from aggregator.store._metrics import LATEST_DECISIONS_SQL, decision_records, metric_points
from fedgov.errors import ConfigError
from fedgov.policy import Decision
from fedgov.report import Report, ReportLink, now_ms
from fedgov.wire import report_from_bytes, report_link_from_bytes, report_to_bytes

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS silos (
    silo_id TEXT PRIMARY KEY,
    jurisdiction TEXT NOT NULL,
    policy_bundle_digest TEXT NOT NULL,
    registered_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS silo_models (
    silo_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    PRIMARY KEY (silo_id, model_id, model_version)
);
CREATE TABLE IF NOT EXISTS specs (
    spec_digest TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    spec_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    report_id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    silo_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    window_end_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    allow BOOLEAN NOT NULL,
    payload TEXT NOT NULL,  -- JSON of rows written before payload_pb; '' since
    payload_pb BYTEA  -- the serialized fedgov.v1.Report (fedgov.wire.report_to_bytes)
);
ALTER TABLE reports ADD COLUMN IF NOT EXISTS payload_pb BYTEA;
CREATE INDEX IF NOT EXISTS reports_by_model
    ON reports (model_id, model_version, silo_id, window_end_ms);
CREATE INDEX IF NOT EXISTS reports_by_model_time ON reports (model_id, window_end_ms);
-- The newest report of each (silo, model, version): newest window_end_ms, then
-- received_ms, then seq. add_report keeps it in its transaction.
CREATE TABLE IF NOT EXISTS latest_reports (
    silo_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    report_id TEXT NOT NULL,
    window_end_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (silo_id, model_id, model_version)
);
CREATE TABLE IF NOT EXISTS feature_drift (
    report_id TEXT NOT NULL,
    silo_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    feature TEXT NOT NULL,
    psi DOUBLE PRECISION NOT NULL,
    psi_pvalue DOUBLE PRECISION,
    window_end_ms BIGINT NOT NULL,
    PRIMARY KEY (report_id, feature)
);
CREATE INDEX IF NOT EXISTS drift_by_time ON feature_drift (window_end_ms, psi);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    candidate_version TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_model ON jobs (model_id, model_version, state);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    silo_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    acked_ms BIGINT,
    payload TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS commands_by_silo ON commands (silo_id, status);
CREATE INDEX IF NOT EXISTS commands_by_job ON commands (job_id);
CREATE TABLE IF NOT EXISTS central_decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    jurisdiction_group TEXT NOT NULL,
    evaluated_ms BIGINT NOT NULL,
    silos TEXT NOT NULL,
    "rows" BIGINT NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS central_by_subject
    ON central_decisions (model_id, model_version, jurisdiction_group, id);
CREATE TABLE IF NOT EXISTS model_versions (
    model_id TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    spec_digest TEXT NOT NULL,
    lineage TEXT NOT NULL,
    artifact BYTEA,
    PRIMARY KEY (model_id, version)
);
CREATE TABLE IF NOT EXISTS model_aliases (
    model_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    version TEXT NOT NULL,
    set_ms BIGINT NOT NULL,
    PRIMARY KEY (model_id, alias)
);
CREATE TABLE IF NOT EXISTS alias_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    version TEXT NOT NULL,
    set_ms BIGINT NOT NULL
);
"""

# Advisory lock keys: one constant for schema setup; open_job hashes its subject.
_SCHEMA_LOCK = 0x66656467_6F760001  # "fedgov" + 1
_SILO_COLS = "silo_id, jurisdiction, policy_bundle_digest, registered_ms, last_seen_ms"
_JOB_COLS = (
    "job_id, model_id, model_version, state, reason, created_ms, updated_ms, detail, "
    "candidate_version"
)
_CMD_COLS = (
    "command_id, job_id, silo_id, kind, model_id, model_version, reason, created_ms, status, "
    "payload"
)
_LATEST = (
    "SELECT r.payload, r.payload_pb FROM latest_reports l "
    "JOIN reports r ON r.report_id = l.report_id {where} "
    "ORDER BY l.silo_id, l.model_id, l.model_version"
)
# add_report in one statement, so one round trip and no BEGIN/COMMIT: the report
# (nothing else when its id is stored already: a concurrent insert of the same id
# waits for the first and then inserts nothing), its drift rows, the latest pointer
# (the upsert waits for a concurrent one on the same row, then compares with what
# that one committed) and the silo's last_seen. One statement is one transaction.
_ADD_REPORT = """
WITH ins AS (
    INSERT INTO reports (report_id, silo_id, jurisdiction, model_id, model_version,
        spec_digest, window_start_ms, window_end_ms, received_ms, allow, payload, payload_pb)
    VALUES (%(report_id)s, %(silo_id)s, %(jurisdiction)s, %(model_id)s, %(model_version)s,
        %(spec_digest)s, %(window_start_ms)s, %(window_end_ms)s, %(received_ms)s, %(allow)s,
        '', %(payload_pb)s)
    ON CONFLICT (report_id) DO NOTHING
    RETURNING report_id, silo_id, jurisdiction, model_id, model_version, window_end_ms,
        received_ms, seq
), drift AS (
    INSERT INTO feature_drift
    SELECT ins.report_id, ins.silo_id, ins.jurisdiction, ins.model_id, ins.model_version,
        f.feature, f.psi, f.psi_pvalue, ins.window_end_ms
    FROM ins, unnest(%(features)s::text[], %(psi)s::float8[], %(psi_pvalue)s::float8[])
        AS f(feature, psi, psi_pvalue)
), latest AS (
    INSERT INTO latest_reports
    SELECT silo_id, model_id, model_version, report_id, window_end_ms, received_ms, seq FROM ins
    ON CONFLICT (silo_id, model_id, model_version) DO UPDATE SET
        report_id = excluded.report_id, window_end_ms = excluded.window_end_ms,
        received_ms = excluded.received_ms, seq = excluded.seq
    WHERE (excluded.window_end_ms, excluded.received_ms, excluded.seq)
        > (latest_reports.window_end_ms, latest_reports.received_ms, latest_reports.seq)
), seen AS (
    UPDATE silos SET last_seen_ms = ins.received_ms FROM ins WHERE silos.silo_id = ins.silo_id
)
SELECT count(*) FROM ins
"""
# Reports stored before the pointer table existed (a no-op on a new database).
_BACKFILL_LATEST = """
INSERT INTO latest_reports
SELECT DISTINCT ON (silo_id, model_id, model_version) silo_id, model_id, model_version,
    report_id, window_end_ms, received_ms, seq FROM reports
WHERE NOT EXISTS (SELECT 1 FROM latest_reports)
ORDER BY silo_id, model_id, model_version, window_end_ms DESC, received_ms DESC, seq DESC
"""


class PostgresStore:
    """The aggregator's state in PostgreSQL; safe to share between threads."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 16, connect_timeout: float = 10.0
    ) -> None:
        self._where = _describe(url)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=int(connect_timeout)) as c:
                with c.transaction():
                    c.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    c.execute(_SCHEMA)
                    c.execute(_BACKFILL_LATEST)
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

    # -- silos -----------------------------------------------------------------
    def register_silo(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[tuple[str, str, str, str]],
    ) -> None:
        t = now_ms()
        with self._tx() as cur:
            # The upsert locks the silo's row: concurrent registrations of one silo queue here.
            cur.execute(
                f"INSERT INTO silos ({_SILO_COLS}) VALUES (%s,%s,%s,%s,%s) "
                "ON CONFLICT (silo_id) DO UPDATE SET jurisdiction=excluded.jurisdiction, "
                "policy_bundle_digest=excluded.policy_bundle_digest, "
                "last_seen_ms=excluded.last_seen_ms",
                (silo_id, jurisdiction, policy_bundle_digest, t, t),
            )
            cur.execute("DELETE FROM silo_models WHERE silo_id=%s", (silo_id,))
            for model_id, version, digest, spec_json in models:
                cur.execute(
                    "INSERT INTO silo_models VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    (silo_id, model_id, version, digest),
                )
                cur.execute(
                    "INSERT INTO specs VALUES (%s,%s,%s,%s) ON CONFLICT (spec_digest) DO NOTHING",
                    (digest, model_id, version, spec_json),
                )

    def get_silo(self, silo_id: str) -> SiloRecord | None:
        # Every report looks its silo up: one statement (one snapshot), one round trip.
        rows = self._all(
            "SELECT s.silo_id, s.jurisdiction, s.policy_bundle_digest, s.registered_ms, "
            "s.last_seen_ms, m.model_id, m.model_version, m.spec_digest FROM silos s "
            "LEFT JOIN silo_models m ON m.silo_id = s.silo_id WHERE s.silo_id=%s "
            "ORDER BY m.model_id, m.model_version",
            (silo_id,),
        )
        if not rows:
            return None
        models = tuple((r[5], r[6], r[7]) for r in rows if r[5] is not None)
        head = rows[0]
        return SiloRecord(head[0], head[1], head[2], head[3], head[4], models=models)

    def list_silos(self) -> list[SiloRecord]:
        return self._silos("", ())

    def _silos(self, where: str, args: tuple[object, ...]) -> list[SiloRecord]:
        with self._tx() as cur:
            rows = cur.execute(
                f"SELECT {_SILO_COLS} FROM silos {where} ORDER BY silo_id", args
            ).fetchall()
            models = cur.execute(
                f"SELECT silo_id, model_id, model_version, spec_digest FROM silo_models "
                f"WHERE silo_id IN (SELECT silo_id FROM silos {where}) "
                "ORDER BY model_id, model_version",
                args,
            ).fetchall()
        by_silo: dict[str, list[tuple[str, str, str]]] = {}
        for m in models:
            by_silo.setdefault(m[0], []).append((m[1], m[2], m[3]))
        return [
            SiloRecord(r[0], r[1], r[2], r[3], r[4], models=tuple(by_silo.get(r[0], ())))
            for r in rows
        ]

    def get_spec_json(self, spec_digest: str) -> str | None:
        row = self._one("SELECT spec_json FROM specs WHERE spec_digest=%s", (spec_digest,))
        return str(row[0]) if row else None

    # -- reports ---------------------------------------------------------------
    def add_report(self, report: Report) -> bool:
        features = (report.metrics.get("drift") or {}).get("features") or {}
        drift = [
            (name, float(m["psi"]), None if m.get("psi_pvalue") is None else float(m["psi_pvalue"]))
            for name, m in features.items()
            if m.get("psi") is not None
        ]
        t = now_ms()
        row = self._one(
            _ADD_REPORT,
            {
                "report_id": report.report_id,
                "silo_id": report.silo_id,
                "jurisdiction": report.jurisdiction,
                "model_id": report.model_id,
                "model_version": report.model_version,
                "spec_digest": report.spec_digest,
                "window_start_ms": report.window_start_ms,
                "window_end_ms": report.window_end_ms,
                "received_ms": t,
                "allow": bool(report.decision.allow),
                "payload_pb": report_to_bytes(report),
                "features": [d[0] for d in drift],
                "psi": [d[1] for d in drift],
                "psi_pvalue": [d[2] for d in drift],
            },
        )
        return bool(row and row[0])

    def get_report(self, report_id: str) -> Report | None:
        row = self._one("SELECT payload, payload_pb FROM reports WHERE report_id=%s", (report_id,))
        return _report(row) if row else None

    def get_reports(self, report_ids: Sequence[str]) -> dict[str, Report]:
        rows = self._all(
            "SELECT report_id, payload, payload_pb FROM reports WHERE report_id = ANY(%s)",
            (list(dict.fromkeys(report_ids)),),
        )
        return {r[0]: _report((r[1], r[2])) for r in rows}

    def count_reports(self) -> int:
        row = self._one("SELECT count(*) FROM reports", ())
        return int(row[0]) if row else 0

    def reports_for_model(
        self, model_id: str, model_version: str | None, *, since_ms: int = 0, latest_only: bool
    ) -> list[Report]:
        # latest_only reads the pointer table; it carries the same columns to filter on.
        t = "l" if latest_only else "r"
        where = f"WHERE {t}.model_id=%s"
        args: list[object] = [model_id]
        if model_version:
            where += f" AND {t}.model_version=%s"
            args.append(model_version)
        if since_ms:
            where += f" AND {t}.window_end_ms>=%s"
            args.append(since_ms)
        if latest_only:
            sql = _LATEST.format(where=where)
        else:
            sql = (
                f"SELECT r.payload, r.payload_pb FROM reports r {where} "
                "ORDER BY r.silo_id, r.model_id, r.model_version, r.window_end_ms, r.seq"
            )
        return [_report(r) for r in self._all(sql, tuple(args))]

    def latest_reports(self) -> list[Report]:
        return [_report(r) for r in self._all(_LATEST.format(where=""), ())]

    def latest_report(self, silo_id: str, model_id: str, model_version: str) -> Report | None:
        rows = self._all(
            _LATEST.format(where="WHERE l.silo_id=%s AND l.model_id=%s AND l.model_version=%s"),
            (silo_id, model_id, model_version),
        )
        return _report(rows[0]) if rows else None

    def latest_report_refs(self, model_id: str, model_version: str | None) -> list[ReportRef]:
        where = "WHERE l.model_id=%s"
        args: list[object] = [model_id]
        if model_version:
            where += " AND l.model_version=%s"
            args.append(model_version)
        rows = self._all(
            "SELECT l.report_id, l.silo_id, r.jurisdiction, l.model_id, l.model_version, "
            "l.window_end_ms FROM latest_reports l JOIN reports r ON r.report_id = l.report_id "
            f"{where} ORDER BY l.silo_id, l.model_id, l.model_version",
            tuple(args),
        )
        return [ReportRef(*r) for r in rows]

    def latest_decisions(self) -> list[DecisionRecord]:
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            rows = cur.execute(LATEST_DECISIONS_SQL).fetchall()
        return decision_records(rows)

    def metric_history(
        self, model_id: str, path: Sequence[str], *, since_ms: int = 0
    ) -> list[MetricPoint]:
        # The (model_id, window_end_ms) index finds the range; of each report only the
        # metrics JSON is read, and of that only the value (see _metrics).
        # Silos sort in code point order, as SQLite and Python sort them, whatever the
        # database's collation.
        where = "model_id=%s"
        args: list[object] = [model_id]
        if since_ms:
            where += " AND window_end_ms>=%s"
            args.append(since_ms)
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            rows = cur.execute(
                "SELECT report_id, silo_id, jurisdiction, model_id, model_version, "
                f"window_end_ms, payload, payload_pb FROM reports WHERE {where} "
                'ORDER BY window_end_ms, silo_id COLLATE "C", model_version, seq',
                args,
            ).fetchall()
        return metric_points(rows, path)

    def latest_report_id(self, silo_id: str, model_id: str, model_version: str) -> str | None:
        row = self._one(
            "SELECT report_id FROM latest_reports "
            "WHERE silo_id=%s AND model_id=%s AND model_version=%s",
            (silo_id, model_id, model_version),
        )
        return str(row[0]) if row else None

    def latest_link(self, silo_id: str, model_id: str, model_version: str) -> ReportLink | None:
        rows = self._all(
            _LATEST.format(where="WHERE l.silo_id=%s AND l.model_id=%s AND l.model_version=%s"),
            (silo_id, model_id, model_version),
        )
        if not rows:
            return None
        payload, payload_pb = rows[0]
        if payload_pb is not None:
            return report_link_from_bytes(payload_pb)
        return ReportLink.of(Report.from_dict(json.loads(payload)))

    def drift_above(
        self, psi_threshold: float, *, since_ms: int = 0, model_id: str | None = None
    ) -> list[DriftRecord]:
        sql = (
            "SELECT report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, "
            "psi_pvalue, window_end_ms FROM feature_drift WHERE window_end_ms>=%s AND psi>%s"
        )
        args: list[object] = [since_ms, psi_threshold]
        if model_id:
            sql += " AND model_id=%s"
            args.append(model_id)
        rows = self._all(sql + " ORDER BY psi DESC, silo_id, feature", tuple(args))
        return [DriftRecord(*r) for r in rows]

    # -- jobs and commands -----------------------------------------------------
    def open_job(
        self, model_id: str, model_version: str, reason: str, silos: Sequence[str]
    ) -> tuple[JobRecord, bool]:
        t = now_ms()
        with self._tx() as cur:
            # Serializes open_job per (model, version) until commit, across processes too.
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"fedgov-job\x1f{model_id}\x1f{model_version}",),
            )
            row = cur.execute(
                "SELECT job_id FROM jobs WHERE model_id=%s AND model_version=%s "
                "AND state = ANY(%s) ORDER BY created_ms, job_id LIMIT 1",
                (model_id, model_version, list(OPEN_JOB_STATES)),
            ).fetchone()
            if row:
                job_id, created = str(row[0]), False
            else:
                job_id, created = uuid.uuid4().hex[:16], True
                cur.execute(
                    "INSERT INTO jobs (job_id, model_id, model_version, state, reason, created_ms, "
                    "updated_ms) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                    (job_id, model_id, model_version, "dispatched", reason, t, t),
                )
                commands = [
                    (
                        uuid.uuid4().hex[:16],
                        job_id,
                        silo,
                        "retrain",
                        model_id,
                        model_version,
                        reason,
                        t,
                        "pending",
                        "",
                    )
                    for silo in sorted(set(silos))
                ]
                if commands:
                    cur.executemany(
                        f"INSERT INTO commands ({_CMD_COLS}) VALUES "
                        "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        commands,
                    )
            (job,) = self._jobs(cur, "WHERE job_id=%s", (job_id,))
        return job, created

    def pending_commands(self, silo_id: str) -> list[CommandRecord]:
        rows = self._all(
            f"SELECT {_CMD_COLS} FROM commands WHERE silo_id=%s AND status='pending' "
            "ORDER BY created_ms, command_id",
            (silo_id,),
        )
        return [CommandRecord(*r) for r in rows]

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        with self._tx() as cur:
            cur.execute(
                "UPDATE commands SET status=%s, message=%s, acked_ms=%s "
                "WHERE command_id=%s AND silo_id=%s AND status='pending'",
                (status, message, now_ms(), command_id, silo_id),
            )
            return cur.rowcount == 1

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]:
        with self._tx() as cur:
            if model_id:
                return self._jobs(cur, "WHERE model_id=%s", (model_id,))
            return self._jobs(cur, "", ())

    @staticmethod
    def _jobs(cur: psycopg.Cursor[Any], where: str, args: tuple[object, ...]) -> list[JobRecord]:
        jobs = cur.execute(
            f"SELECT {_JOB_COLS} FROM jobs {where} ORDER BY created_ms, job_id", args
        ).fetchall()
        cmds = cur.execute(
            f"SELECT {_CMD_COLS} FROM commands WHERE job_id IN (SELECT job_id FROM jobs {where}) "
            "ORDER BY silo_id, command_id",
            args,
        ).fetchall()
        by_job: dict[str, list[CommandRecord]] = {}
        for c in cmds:
            by_job.setdefault(c[1], []).append(CommandRecord(*c))
        return [JobRecord(*j, commands=tuple(by_job.get(j[0], ()))) for j in jobs]

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._tx() as cur:
            jobs = self._jobs(cur, "WHERE job_id=%s", (job_id,))
        return jobs[0] if jobs else None

    def transition_job(
        self, job_id: str, state: str, *, detail: str = "", candidate_version: str | None = None
    ) -> JobRecord:
        with self._tx() as cur:
            row = cur.execute(
                "SELECT state FROM jobs WHERE job_id=%s FOR UPDATE", (job_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id!r}")
            check_transition(job_id, row[0], state)
            cur.execute(
                "UPDATE jobs SET state=%s, detail=%s, updated_ms=%s, "
                "candidate_version=COALESCE(%s, candidate_version) WHERE job_id=%s",
                (state, detail, now_ms(), candidate_version, job_id),
            )
            (job,) = self._jobs(cur, "WHERE job_id=%s", (job_id,))
        return job

    def add_commands(
        self, job_id: str, kind: str, silos: Sequence[str], reason: str, payload: str = ""
    ) -> list[CommandRecord]:
        t = now_ms()
        with self._tx() as cur:
            job = cur.execute(
                "SELECT model_id, model_version FROM jobs WHERE job_id=%s", (job_id,)
            ).fetchone()
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            ids = [uuid.uuid4().hex[:16] for _ in sorted(set(silos))]
            rows = [
                (cid, job_id, silo, kind, job[0], job[1], reason, t, "pending", payload)
                for cid, silo in zip(ids, sorted(set(silos)), strict=True)
            ]
            if rows:
                cur.executemany(
                    f"INSERT INTO commands ({_CMD_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    rows,
                )
            out = cur.execute(
                f"SELECT {_CMD_COLS} FROM commands WHERE command_id = ANY(%s)", (ids,)
            ).fetchall()
        return [CommandRecord(*r) for r in out]

    # -- model registry ----------------------------------------------------------
    def add_model_version(self, rec: ModelVersionRecord) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO model_versions VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (
                    rec.model_id,
                    rec.version,
                    rec.status,
                    rec.created_ms,
                    rec.spec_digest,
                    json.dumps(rec.lineage, sort_keys=True),
                    rec.artifact,
                ),
            )

    def _versions(self, where: str, args: tuple[object, ...]) -> list[ModelVersionRecord]:
        with self._tx() as cur:
            rows = cur.execute(
                "SELECT model_id, version, status, created_ms, spec_digest, lineage, artifact "
                f"FROM model_versions {where} ORDER BY model_id, created_ms, version",
                args,
            ).fetchall()
            aliases = cur.execute("SELECT model_id, version, alias FROM model_aliases").fetchall()
        by_version: dict[tuple[str, str], list[str]] = {}
        for m, v, a in aliases:
            by_version.setdefault((m, v), []).append(a)
        return [
            ModelVersionRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                json.loads(r[5]),
                bytes(r[6]) if r[6] is not None else None,
                tuple(sorted(by_version.get((r[0], r[1]), ()))),
            )
            for r in rows
        ]

    def get_model_version(self, model_id: str, version: str) -> ModelVersionRecord | None:
        found = self._versions("WHERE model_id=%s AND version=%s", (model_id, version))
        return found[0] if found else None

    def list_model_versions(self, model_id: str | None = None) -> list[ModelVersionRecord]:
        if model_id:
            return self._versions("WHERE model_id=%s", (model_id,))
        return self._versions("", ())

    def set_model_status(self, model_id: str, version: str, status: str) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE model_versions SET status=%s WHERE model_id=%s AND version=%s",
                (status, model_id, version),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no model version {model_id}/{version}")

    def set_alias(self, model_id: str, alias: str, version: str) -> str | None:
        t = now_ms()
        with self._tx() as cur:
            prev = cur.execute(
                "SELECT version FROM model_aliases WHERE model_id=%s AND alias=%s FOR UPDATE",
                (model_id, alias),
            ).fetchone()
            cur.execute(
                "INSERT INTO model_aliases VALUES (%s,%s,%s,%s) ON CONFLICT (model_id, alias) "
                "DO UPDATE SET version=excluded.version, set_ms=excluded.set_ms",
                (model_id, alias, version, t),
            )
            cur.execute(
                "INSERT INTO alias_history (model_id, alias, version, set_ms) VALUES (%s,%s,%s,%s)",
                (model_id, alias, version, t),
            )
        return str(prev[0]) if prev else None

    def resolve_alias(self, model_id: str, alias: str) -> str | None:
        row = self._one(
            "SELECT version FROM model_aliases WHERE model_id=%s AND alias=%s", (model_id, alias)
        )
        return str(row[0]) if row else None

    def alias_history(self, model_id: str, alias: str) -> list[tuple[str, int]]:
        rows = self._all(
            "SELECT version, set_ms FROM alias_history WHERE model_id=%s AND alias=%s "
            "ORDER BY id DESC",
            (model_id, alias),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    # -- central decisions -----------------------------------------------------
    def add_central_decision(self, rec: CentralDecisionRecord) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO central_decisions (model_id, model_version, jurisdiction_group, "
                'evaluated_ms, silos, "rows", decision) VALUES (%s,%s,%s,%s,%s,%s,%s)',
                (
                    rec.model_id,
                    rec.model_version,
                    rec.jurisdiction_group,
                    rec.evaluated_ms,
                    json.dumps(list(rec.silos)),
                    rec.rows,
                    json.dumps(rec.decision.to_dict(), sort_keys=True),
                ),
            )

    def latest_central_decisions(self) -> list[CentralDecisionRecord]:
        rows = self._all(
            "SELECT DISTINCT ON (model_id, model_version, jurisdiction_group) model_id, "
            'model_version, jurisdiction_group, evaluated_ms, silos, "rows", decision '
            "FROM central_decisions "
            "ORDER BY model_id, model_version, jurisdiction_group, id DESC",
            (),
        )
        return [
            CentralDecisionRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                tuple(json.loads(r[4])),
                r[5],
                Decision.from_dict(json.loads(r[6])),
            )
            for r in rows
        ]

    def close(self) -> None:
        self._pool.close()

    # -- helpers ---------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction on a pooled connection: COMMIT on return, ROLLBACK on error."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _one(
        self, sql: str, args: tuple[object, ...] | dict[str, object]
    ) -> tuple[Any, ...] | None:
        with self._pool.connection() as conn:
            return conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn:
            return conn.execute(sql, args).fetchall()


def _report(row: tuple[Any, ...]) -> Report:
    """A stored report: protobuf bytes, or the JSON that rows written before them hold."""
    payload, payload_pb = row
    if payload_pb is not None:
        return report_from_bytes(payload_pb)
    return Report.from_dict(json.loads(payload))


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
