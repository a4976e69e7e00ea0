"""Retraining jobs and the commands they send to silos, the same statements on every backend.

Each method is one transaction. Concurrency is settled by the database, so
several aggregators may share one:

* ``open_job``: "find the open job of (model, version), else create it with
  its commands" holds the dialect's subject lock (an advisory lock on
  PostgreSQL; SQLite's writers are serialized already);
* ``transition_job`` reads the job's state ``FOR UPDATE`` where the dialect
  has row locks;
* ``ack_command``: ``UPDATE ... WHERE status = 'pending'``; only one ack wins.

Commands are rows: the store is the queue. Inserting them also sends the
dialect's wake-up (``NOTIFY`` on PostgreSQL, delivered on commit) to whichever
aggregator holds the silos' streams; the rows, not the wake-up, are what counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from aggregator.store._base import (
    ENDED_JOB_STATES,
    OPEN_JOB_STATES,
    CommandRecord,
    JobRecord,
    check_transition,
)
from aggregator.store._sql import Connected, Executor
from fedgov.report import now_ms

__all__ = ["JobQueries", "insert_commands"]

_JOB_COLS = (
    "job_id, model_id, model_version, state, reason, created_ms, updated_ms, detail, "
    "candidate_version"
)
_CMD_COLS = (
    "command_id, job_id, silo_id, kind, model_id, model_version, reason, created_ms, status, "
    "payload"
)
_INSERT_CMD = f"INSERT INTO commands ({_CMD_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
_OPEN_JOB = (
    "SELECT job_id FROM jobs WHERE model_id=? AND model_version=? "
    f"AND state IN ({','.join('?' * len(OPEN_JOB_STATES))}) ORDER BY created_ms, job_id LIMIT 1"
)


class JobQueries(Connected):
    def open_job(
        self, model_id: str, model_version: str, reason: str, silos: Sequence[str]
    ) -> tuple[JobRecord, bool]:
        t = now_ms()
        with self._write() as db:
            if self.dialect.subject_lock:
                # Serializes open_job per (model, version) until commit, across processes too.
                db.execute(
                    self.dialect.subject_lock, (f"fedgov-job\x1f{model_id}\x1f{model_version}",)
                )
            row = db.execute(_OPEN_JOB, (model_id, model_version, *OPEN_JOB_STATES)).fetchone()
            if row:
                job_id, created = str(row[0]), False
            else:
                job_id, created = uuid.uuid4().hex[:16], True
                db.execute(
                    "INSERT INTO jobs (job_id, model_id, model_version, state, reason, created_ms, "
                    "updated_ms) VALUES (?,?,?,?,?,?,?)",
                    (job_id, model_id, model_version, "dispatched", reason, t, t),
                )
                insert_commands(
                    db, job_id, "retrain", model_id, model_version, silos, reason, t, "",
                    notify=self.dialect.notify_commands,
                )  # fmt: skip
            (job,) = _jobs(db, "WHERE job_id=?", (job_id,))
        return job, created

    def pending_commands(self, silo_id: str) -> list[CommandRecord]:
        rows = self._query(
            f"SELECT {_CMD_COLS} FROM commands WHERE silo_id=? AND status='pending' "
            "ORDER BY created_ms, command_id",
            (silo_id,),
        )
        return [CommandRecord(*r) for r in rows]

    def silos_with_pending_commands(self) -> set[str]:
        rows = self._query("SELECT DISTINCT silo_id FROM commands WHERE status='pending'", ())
        return {r[0] for r in rows}

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE commands SET status=?, message=?, acked_ms=? "
                "WHERE command_id=? AND silo_id=? AND status='pending'",
                (status, message, now_ms(), command_id, silo_id),
            )
            return cur.rowcount == 1

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]:
        with self._read() as db:
            if model_id:
                return _jobs(db, "WHERE model_id=?", (model_id,))
            return _jobs(db, "", ())

    def ended_jobs(self, model_id: str, model_version: str) -> list[JobRecord]:
        marks = ",".join("?" * len(ENDED_JOB_STATES))
        rows = self._query(
            f"SELECT {_JOB_COLS} FROM jobs WHERE model_id=? AND model_version=? "
            f"AND state IN ({marks}) ORDER BY updated_ms, job_id",
            (model_id, model_version, *ENDED_JOB_STATES),
        )
        return [JobRecord(*r, ()) for r in rows]

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._read() as db:
            jobs = _jobs(db, "WHERE job_id=?", (job_id,))
        return jobs[0] if jobs else None

    def transition_job(
        self, job_id: str, state: str, *, detail: str = "", candidate_version: str | None = None
    ) -> JobRecord:
        with self._write() as db:
            row = db.execute(
                f"SELECT state FROM jobs WHERE job_id=?{self.dialect.for_update}", (job_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no job {job_id!r}")
            check_transition(job_id, row[0], state)
            db.execute(
                "UPDATE jobs SET state=?, detail=?, updated_ms=?, "
                "candidate_version=COALESCE(?, candidate_version) WHERE job_id=?",
                (state, detail, now_ms(), candidate_version, job_id),
            )
            (job,) = _jobs(db, "WHERE job_id=?", (job_id,))
        return job

    def add_commands(
        self, job_id: str, kind: str, silos: Sequence[str], reason: str, payload: str = ""
    ) -> list[CommandRecord]:
        t = now_ms()
        with self._write() as db:
            job = db.execute(
                "SELECT model_id, model_version FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            return insert_commands(
                db, job_id, kind, job[0], job[1], silos, reason, t, payload,
                notify=self.dialect.notify_commands,
            )  # fmt: skip


def insert_commands(
    db: Executor,
    job_id: str,
    kind: str,
    model_id: str,
    model_version: str,
    silos: Sequence[str],
    reason: str,
    t: int,
    payload: str,
    *,
    notify: str | None = None,
) -> list[CommandRecord]:
    """One pending command per silo (each once, in silo order), as stored; ``notify``
    (the dialect's statement) wakes the aggregators listening for those silos."""
    commands = [
        CommandRecord(
            uuid.uuid4().hex[:16],
            job_id,
            silo,
            kind,
            model_id,
            model_version,
            reason,
            t,
            "pending",
            payload,
        )
        for silo in sorted(set(silos))
    ]
    if commands:
        db.executemany(
            _INSERT_CMD,
            [
                (
                    c.command_id,
                    c.job_id,
                    c.silo_id,
                    c.kind,
                    c.model_id,
                    c.model_version,
                    c.reason,
                    c.created_ms,
                    c.status,
                    c.payload,
                )
                for c in commands
            ],
        )
        if notify:
            db.execute(notify, ([c.silo_id for c in commands],))
    return commands


def _jobs(db: Executor, where: str, args: Sequence[object]) -> list[JobRecord]:
    """The jobs ``where`` selects, oldest first, with their commands: two statements."""
    jobs = db.execute(
        f"SELECT {_JOB_COLS} FROM jobs {where} ORDER BY created_ms, job_id", args
    ).fetchall()
    cmds = db.execute(
        f"SELECT {_CMD_COLS} FROM commands WHERE job_id IN (SELECT job_id FROM jobs {where}) "
        "ORDER BY silo_id, created_ms, command_id",
        args,
    ).fetchall()
    by_job: dict[str, list[CommandRecord]] = {}
    for c in cmds:
        by_job.setdefault(c[1], []).append(CommandRecord(*c))
    return [
        JobRecord(j[0], j[1], j[2], j[3], j[4], j[5], j[6], j[7], j[8], tuple(by_job.get(j[0], ())))
        for j in jobs
    ]
