"""SQLite store (the default): one file, WAL journal, every write committed.

Reports are written in batches: concurrent ``add_report`` calls queue, and
whoever takes the write lock first commits all of them in one transaction
(group commit); each caller returns after its commit. Reads run on a
connection per thread and never wait for a write. ``latest_reports`` points
at the newest report of each (silo, model, version) so the latest-report
queries read O(silos) rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from aggregator.store._sqlite_reports import (
    PendingReport,
    insert_reports,
    migrate,
    stored_link,
    stored_report,
)
from fedgov.policy import Decision
from fedgov.report import Report, ReportLink, now_ms

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS silos (
    silo_id TEXT PRIMARY KEY,
    jurisdiction TEXT NOT NULL,
    policy_bundle_digest TEXT NOT NULL,
    registered_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
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
    silo_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    allow INTEGER NOT NULL,
    payload TEXT NOT NULL,  -- JSON of rows written before payload_pb; '' since
    payload_pb BLOB  -- the serialized fedgov.v1.Report (fedgov.wire.report_to_bytes)
);
CREATE INDEX IF NOT EXISTS reports_by_model
    ON reports (model_id, model_version, silo_id, window_end_ms);
CREATE INDEX IF NOT EXISTS reports_by_model_time ON reports (model_id, window_end_ms);
-- The newest report of each (silo, model, version): newest window_end_ms, then
-- received_ms, then the later insert. add_report keeps it in its transaction.
CREATE TABLE IF NOT EXISTS latest_reports (
    silo_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    report_id TEXT NOT NULL,
    window_end_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (silo_id, model_id, model_version)
);
CREATE TABLE IF NOT EXISTS feature_drift (
    report_id TEXT NOT NULL,
    silo_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    feature TEXT NOT NULL,
    psi REAL NOT NULL,
    psi_pvalue REAL,
    window_end_ms INTEGER NOT NULL,
    PRIMARY KEY (report_id, feature)
);
CREATE INDEX IF NOT EXISTS drift_by_time ON feature_drift (window_end_ms, psi);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
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
    created_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    acked_ms INTEGER,
    payload TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS commands_by_silo ON commands (silo_id, status);
CREATE TABLE IF NOT EXISTS central_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    jurisdiction_group TEXT NOT NULL,
    evaluated_ms INTEGER NOT NULL,
    silos TEXT NOT NULL,
    rows INTEGER NOT NULL,
    decision TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
    model_id TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    spec_digest TEXT NOT NULL,
    lineage TEXT NOT NULL,
    artifact BLOB,
    PRIMARY KEY (model_id, version)
);
CREATE TABLE IF NOT EXISTS model_aliases (
    model_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    version TEXT NOT NULL,
    set_ms INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias)
);
CREATE TABLE IF NOT EXISTS alias_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    version TEXT NOT NULL,
    set_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS central_by_subject
    ON central_decisions (model_id, model_version, jurisdiction_group, id);
"""


_CMD_COLS = (
    "command_id, job_id, silo_id, kind, model_id, model_version, reason, created_ms, status, "
    "payload"
)
_JOB_COLS = (
    "job_id, model_id, model_version, state, reason, created_ms, updated_ms, detail, "
    "candidate_version"
)


class SqliteStore:
    """Writes go through one connection guarded by a lock; reads do not wait for them.

    gRPC worker threads share the store. A write holds the lock through its
    commit, fsync included. The hot reads (the ingest path's silo lookup, the
    report queries) run on a connection of their own per thread, which WAL lets
    read the last committed state while a write is in progress, so they never
    queue behind a commit. (A ``:memory:`` database has only the one connection.)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[PendingReport] = []
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an ack means the report is on disk
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        with self._tx() as db:
            migrate(db)

    # -- silos -----------------------------------------------------------------
    def register_silo(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[tuple[str, str, str, str]],
    ) -> None:
        t = now_ms()
        with self._lock, self._tx() as db:
            db.execute(
                "INSERT INTO silos VALUES (?,?,?,?,?) ON CONFLICT(silo_id) DO UPDATE SET "
                "jurisdiction=excluded.jurisdiction, "
                "policy_bundle_digest=excluded.policy_bundle_digest, "
                "last_seen_ms=excluded.last_seen_ms",
                (silo_id, jurisdiction, policy_bundle_digest, t, t),
            )
            db.execute("DELETE FROM silo_models WHERE silo_id=?", (silo_id,))
            for model_id, version, digest, spec_json in models:
                db.execute(
                    "INSERT INTO silo_models VALUES (?,?,?,?)", (silo_id, model_id, version, digest)
                )
                db.execute(
                    "INSERT OR IGNORE INTO specs VALUES (?,?,?,?)",
                    (digest, model_id, version, spec_json),
                )

    @staticmethod
    def _silos(db: sqlite3.Connection, where: str, args: tuple[object, ...]) -> list[SiloRecord]:
        rows = db.execute(f"SELECT * FROM silos {where} ORDER BY silo_id", args).fetchall()
        models = db.execute(
            "SELECT silo_id, model_id, model_version, spec_digest FROM silo_models "
            f"WHERE silo_id IN (SELECT silo_id FROM silos {where}) "
            "ORDER BY model_id, model_version",
            args,
        ).fetchall()
        by_silo: dict[str, list[tuple[str, str, str]]] = {}
        for m in models:
            by_silo.setdefault(m[0], []).append((m[1], m[2], m[3]))
        return [SiloRecord(*r, models=tuple(by_silo.get(r[0], ()))) for r in rows]

    def get_silo(self, silo_id: str) -> SiloRecord | None:
        # Every report looks its silo up: one statement (one snapshot), not a transaction.
        rows = self._query(
            "SELECT s.*, m.model_id, m.model_version, m.spec_digest FROM silos s "
            "LEFT JOIN silo_models m ON m.silo_id = s.silo_id WHERE s.silo_id=? "
            "ORDER BY m.model_id, m.model_version",
            (silo_id,),
        )
        if not rows:
            return None
        models = tuple((r[5], r[6], r[7]) for r in rows if r[5] is not None)
        head = rows[0]
        return SiloRecord(head[0], head[1], head[2], head[3], head[4], models=models)

    def list_silos(self) -> list[SiloRecord]:
        with self._read() as db:
            return self._silos(db, "", ())

    def get_spec_json(self, spec_digest: str) -> str | None:
        with self._read() as db:
            row = db.execute(
                "SELECT spec_json FROM specs WHERE spec_digest=?", (spec_digest,)
            ).fetchone()
        return row[0] if row else None

    # -- reports ---------------------------------------------------------------
    def add_report(self, report: Report) -> bool:
        """Store a report once, committed before this returns (see :class:`PendingReport`).

        Concurrent calls are written together: the first caller to take the
        write lock writes every report queued by then in one transaction, so
        the commit (and its fsync) and the handovers of the lock and the GIL
        are paid once per batch instead of once per report.
        """
        pending = PendingReport(report)  # encoded before taking any lock
        with self._queue_lock:
            self._queue.append(pending)
        with self._lock:
            if not pending.done:  # else an earlier caller wrote it (or failed to)
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    self._write_reports(batch)
                finally:
                    for p in batch:  # only if interrupted: no caller may wait in vain
                        if not p.done:
                            p.fail(RuntimeError("the write of this report was interrupted"))
        if pending.error is not None:
            raise pending.error
        return pending.added

    def _write_reports(self, batch: list[PendingReport]) -> None:
        """Write a batch in one transaction; if that fails, each report in its own."""
        try:
            with self._tx() as db:
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

    def get_report(self, report_id: str) -> Report | None:
        with self._read() as db:
            row = db.execute(
                "SELECT payload, payload_pb FROM reports WHERE report_id=?", (report_id,)
            ).fetchone()
        return stored_report(row) if row else None

    def get_reports(self, report_ids: Sequence[str]) -> dict[str, Report]:
        ids = list(dict.fromkeys(report_ids))
        rows: list[tuple[str, str, bytes | None]] = []
        with self._read() as db:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                rows += db.execute(
                    "SELECT report_id, payload, payload_pb FROM reports "
                    f"WHERE report_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
        return {r[0]: stored_report((r[1], r[2])) for r in rows}

    def count_reports(self) -> int:
        with self._read() as db:
            return int(db.execute("SELECT count(*) FROM reports").fetchone()[0])

    def reports_for_model(
        self, model_id: str, model_version: str | None, *, since_ms: int = 0, latest_only: bool
    ) -> list[Report]:
        # latest_only reads the pointer table; it carries the same columns to filter on.
        t = "l" if latest_only else "r"
        where = f"{t}.model_id=?"
        args: list[object] = [model_id]
        if model_version:
            where += f" AND {t}.model_version=?"
            args.append(model_version)
        if since_ms:
            where += f" AND {t}.window_end_ms>=?"
            args.append(since_ms)
        if latest_only:
            sql = (
                "SELECT r.payload, r.payload_pb FROM latest_reports l "
                f"JOIN reports r ON r.report_id = l.report_id WHERE {where} "
                "ORDER BY l.silo_id, l.model_id, l.model_version"
            )
        else:
            sql = (
                f"SELECT r.payload, r.payload_pb FROM reports r WHERE {where} "
                "ORDER BY r.silo_id, r.model_id, r.model_version, r.window_end_ms, r.rowid"
            )
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        return [stored_report(r) for r in rows]

    def latest_reports(self) -> list[Report]:
        sql = (
            "SELECT r.payload, r.payload_pb FROM latest_reports l "
            "JOIN reports r ON r.report_id = l.report_id "
            "ORDER BY l.silo_id, l.model_id, l.model_version"
        )
        with self._read() as db:
            rows = db.execute(sql).fetchall()
        return [stored_report(r) for r in rows]

    def latest_report(self, silo_id: str, model_id: str, model_version: str) -> Report | None:
        sql = (
            "SELECT r.payload, r.payload_pb FROM latest_reports l "
            "JOIN reports r ON r.report_id = l.report_id "
            "WHERE l.silo_id=? AND l.model_id=? AND l.model_version=?"
        )
        with self._read() as db:
            row = db.execute(sql, (silo_id, model_id, model_version)).fetchone()
        return stored_report(row) if row else None

    def latest_report_refs(self, model_id: str, model_version: str | None) -> list[ReportRef]:
        where = "l.model_id=?"
        args: list[object] = [model_id]
        if model_version:
            where += " AND l.model_version=?"
            args.append(model_version)
        sql = (
            "SELECT l.report_id, l.silo_id, r.jurisdiction, l.model_id, l.model_version, "
            "l.window_end_ms FROM latest_reports l JOIN reports r ON r.report_id = l.report_id "
            f"WHERE {where} ORDER BY l.silo_id, l.model_id, l.model_version"
        )
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        return [ReportRef(*r) for r in rows]

    def latest_decisions(self) -> list[DecisionRecord]:
        with self._read() as db:
            rows = db.execute(LATEST_DECISIONS_SQL).fetchall()
        return decision_records(rows)

    def metric_history(
        self, model_id: str, path: Sequence[str], *, since_ms: int = 0
    ) -> list[MetricPoint]:
        # The (model_id, window_end_ms) index finds the range; of each report only the
        # metrics JSON is read, and of that only the value (see _metrics).
        where = "model_id=?"
        args: list[object] = [model_id]
        if since_ms:
            where += " AND window_end_ms>=?"
            args.append(since_ms)
        sql = (
            "SELECT report_id, silo_id, jurisdiction, model_id, model_version, window_end_ms, "
            f"payload, payload_pb FROM reports WHERE {where} "
            "ORDER BY window_end_ms, silo_id, model_version, rowid"
        )
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        return metric_points(rows, path)

    def latest_report_id(self, silo_id: str, model_id: str, model_version: str) -> str | None:
        rows = self._query(
            "SELECT report_id FROM latest_reports "
            "WHERE silo_id=? AND model_id=? AND model_version=?",
            (silo_id, model_id, model_version),
        )
        return str(rows[0][0]) if rows else None

    def latest_link(self, silo_id: str, model_id: str, model_version: str) -> ReportLink | None:
        sql = (
            "SELECT r.payload, r.payload_pb FROM latest_reports l "
            "JOIN reports r ON r.report_id = l.report_id "
            "WHERE l.silo_id=? AND l.model_id=? AND l.model_version=?"
        )
        rows = self._query(sql, (silo_id, model_id, model_version))
        return stored_link(rows[0]) if rows else None

    def drift_above(
        self, psi_threshold: float, *, since_ms: int = 0, model_id: str | None = None
    ) -> list[DriftRecord]:
        sql = (
            "SELECT report_id, silo_id, jurisdiction, model_id, model_version, feature, psi, "
            "psi_pvalue, window_end_ms FROM feature_drift WHERE window_end_ms>=? AND psi>?"
        )
        args: list[object] = [since_ms, psi_threshold]
        if model_id:
            sql += " AND model_id=?"
            args.append(model_id)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY psi DESC, silo_id, feature", args).fetchall()
        return [DriftRecord(*r) for r in rows]

    # -- jobs and commands -----------------------------------------------------
    def open_job(
        self, model_id: str, model_version: str, reason: str, silos: Sequence[str]
    ) -> tuple[JobRecord, bool]:
        t = now_ms()
        marks = ",".join("?" * len(OPEN_JOB_STATES))
        with self._lock, self._tx() as db:
            row = db.execute(
                f"SELECT job_id FROM jobs WHERE model_id=? AND model_version=? "
                f"AND state IN ({marks}) ORDER BY created_ms LIMIT 1",
                (model_id, model_version, *OPEN_JOB_STATES),
            ).fetchone()
            if row:
                job_id, created = row[0], False
            else:
                job_id, created = uuid.uuid4().hex[:16], True
                db.execute(
                    "INSERT INTO jobs (job_id, model_id, model_version, state, reason, created_ms, "
                    "updated_ms) VALUES (?,?,?,?,?,?,?)",
                    (job_id, model_id, model_version, "dispatched", reason, t, t),
                )
                for silo in sorted(set(silos)):
                    db.execute(
                        "INSERT INTO commands (command_id, job_id, silo_id, kind, model_id, "
                        "model_version, reason, created_ms, status) VALUES (?,?,?,?,?,?,?,?,?)",
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
                        ),
                    )
        return self._job(job_id), created

    def _job(self, job_id: str) -> JobRecord:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_JOB_COLS} FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            cmds = self._db.execute(
                f"SELECT {_CMD_COLS} FROM commands WHERE job_id=? ORDER BY silo_id, created_ms",
                (job_id,),
            ).fetchall()
        return JobRecord(*row, commands=tuple(CommandRecord(*c) for c in cmds))

    def pending_commands(self, silo_id: str) -> list[CommandRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_CMD_COLS} FROM commands WHERE silo_id=? AND status='pending' "
                "ORDER BY created_ms, command_id",
                (silo_id,),
            ).fetchall()
        return [CommandRecord(*r) for r in rows]

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        with self._lock, self._tx() as db:
            cur = db.execute(
                "UPDATE commands SET status=?, message=?, acked_ms=? "
                "WHERE command_id=? AND silo_id=? AND status='pending'",
                (status, message, now_ms(), command_id, silo_id),
            )
            return cur.rowcount == 1

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]:
        with self._lock:
            if model_id:
                ids = self._db.execute(
                    "SELECT job_id FROM jobs WHERE model_id=? ORDER BY created_ms", (model_id,)
                ).fetchall()
            else:
                ids = self._db.execute("SELECT job_id FROM jobs ORDER BY created_ms").fetchall()
        return [self._job(r[0]) for r in ids]

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            exists = self._db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return self._job(job_id) if exists else None

    def transition_job(
        self, job_id: str, state: str, *, detail: str = "", candidate_version: str | None = None
    ) -> JobRecord:
        with self._lock, self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id!r}")
            check_transition(job_id, row[0], state)
            db.execute(
                "UPDATE jobs SET state=?, detail=?, updated_ms=?, "
                "candidate_version=COALESCE(?, candidate_version) WHERE job_id=?",
                (state, detail, now_ms(), candidate_version, job_id),
            )
        return self._job(job_id)

    def add_commands(
        self, job_id: str, kind: str, silos: Sequence[str], reason: str, payload: str = ""
    ) -> list[CommandRecord]:
        t = now_ms()
        with self._lock, self._tx() as db:
            job = db.execute(
                "SELECT model_id, model_version FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            ids = []
            for silo in sorted(set(silos)):
                cid = uuid.uuid4().hex[:16]
                ids.append(cid)
                db.execute(
                    f"INSERT INTO commands ({_CMD_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (cid, job_id, silo, kind, job[0], job[1], reason, t, "pending", payload),
                )
            marks = ",".join("?" * len(ids))
            rows = db.execute(
                f"SELECT {_CMD_COLS} FROM commands WHERE command_id IN ({marks})", ids
            ).fetchall()
        return [CommandRecord(*r) for r in rows]

    # -- model registry ----------------------------------------------------------
    def add_model_version(self, rec: ModelVersionRecord) -> None:
        with self._lock, self._tx() as db:
            db.execute(
                "INSERT INTO model_versions VALUES (?,?,?,?,?,?,?)",
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

    def _version(self, row: tuple) -> ModelVersionRecord:
        aliases = self._db.execute(
            "SELECT alias FROM model_aliases WHERE model_id=? AND version=? ORDER BY alias",
            (row[0], row[1]),
        ).fetchall()
        return ModelVersionRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            json.loads(row[5]),
            bytes(row[6]) if row[6] is not None else None,
            tuple(a[0] for a in aliases),
        )

    def get_model_version(self, model_id: str, version: str) -> ModelVersionRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM model_versions WHERE model_id=? AND version=?", (model_id, version)
            ).fetchone()
            return self._version(row) if row else None

    def list_model_versions(self, model_id: str | None = None) -> list[ModelVersionRecord]:
        with self._lock:
            if model_id:
                rows = self._db.execute(
                    "SELECT * FROM model_versions WHERE model_id=? ORDER BY created_ms, version",
                    (model_id,),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM model_versions ORDER BY model_id, created_ms, version"
                ).fetchall()
            return [self._version(r) for r in rows]

    def set_model_status(self, model_id: str, version: str, status: str) -> None:
        with self._lock, self._tx() as db:
            cur = db.execute(
                "UPDATE model_versions SET status=? WHERE model_id=? AND version=?",
                (status, model_id, version),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no model version {model_id}/{version}")

    def set_alias(self, model_id: str, alias: str, version: str) -> str | None:
        t = now_ms()
        with self._lock, self._tx() as db:
            prev = db.execute(
                "SELECT version FROM model_aliases WHERE model_id=? AND alias=?", (model_id, alias)
            ).fetchone()
            db.execute(
                "INSERT INTO model_aliases VALUES (?,?,?,?) ON CONFLICT(model_id, alias) "
                "DO UPDATE SET version=excluded.version, set_ms=excluded.set_ms",
                (model_id, alias, version, t),
            )
            db.execute(
                "INSERT INTO alias_history (model_id, alias, version, set_ms) VALUES (?,?,?,?)",
                (model_id, alias, version, t),
            )
        return prev[0] if prev else None

    def resolve_alias(self, model_id: str, alias: str) -> str | None:
        with self._read() as db:
            row = db.execute(
                "SELECT version FROM model_aliases WHERE model_id=? AND alias=?", (model_id, alias)
            ).fetchone()
        return row[0] if row else None

    def alias_history(self, model_id: str, alias: str) -> list[tuple[str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT version, set_ms FROM alias_history WHERE model_id=? AND alias=? "
                "ORDER BY id DESC",
                (model_id, alias),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    # -- central decisions -----------------------------------------------------
    def add_central_decision(self, rec: CentralDecisionRecord) -> None:
        with self._lock, self._tx() as db:
            db.execute(
                "INSERT INTO central_decisions (model_id, model_version, jurisdiction_group, "
                "evaluated_ms, silos, rows, decision) VALUES (?,?,?,?,?,?,?)",
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
        sql = (
            "SELECT model_id, model_version, jurisdiction_group, evaluated_ms, silos, rows, "
            "decision FROM central_decisions c WHERE id = (SELECT max(id) FROM central_decisions "
            "c2 WHERE c2.model_id=c.model_id AND c2.model_version=c.model_version AND "
            "c2.jurisdiction_group=c.jurisdiction_group) "
            "ORDER BY model_id, model_version, jurisdiction_group"
        )
        with self._lock:
            rows = self._db.execute(sql).fetchall()
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
        with self._lock, self._readers_lock:
            for _, reader in self._readers:
                reader.close()
            self._readers.clear()
            self._db.close()

    # -- helpers ---------------------------------------------------------------
    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """The rows of one statement on this thread's reading connection.

        A single statement reads one snapshot by itself, so the ingest path's
        lookups skip :meth:`_read`'s BEGIN and COMMIT: each call into sqlite3
        releases and retakes the GIL, which under load is what costs.
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

    def _reader(self) -> sqlite3.Connection:
        """This thread's reading connection (autocommit), opened on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
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

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
