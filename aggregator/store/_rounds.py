"""Secure aggregation rounds in the store: the same statements on every backend.

The store is the round's only state, so any aggregator process sharing it can
serve a round's calls. Each method is one transaction; races are settled by
the database:

* ``open_round`` holds the dialect's subject lock on (model, period, part) and
  refuses a key that has an open or a completed round, so one round at a time
  per key and at most one completed round per key;
* ``advance_round`` and ``end_round`` update ``WHERE stage = ? AND status =
  'open'``: of two processes moving a round on, one wins; ``claim_round``
  compares the stage-5 deadline too, so of two taking over a claim, one wins;
* a message is stored once per (round, stage, silo); a second, different one
  is refused (a silo cannot change what it said).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aggregator.store._jobs import insert_commands
from aggregator.store._round_records import ReleaseRecord, RoundRecord
from aggregator.store._sql import Connected, Executor
from fedgov.errors import ReportRejected
from fedgov.report import now_ms

__all__ = ["ReleaseRecord", "RoundQueries", "RoundRecord"]


_ROUND_COLS = (
    "round_id, model_id, period_start_ms, period_end_ms, part, params, layout, stage, status, "
    "reason, opened_ms, deadline_ms, survivors, dropped"
)
_RELEASE_COLS = (
    "round_id, model_id, model_version, period_start_ms, period_end_ms, part, silos_json, k, "
    "stats, withheld_json, released_unix_ms"
)


def _round(row: Sequence[object]) -> RoundRecord:
    *head, survivors, dropped = row
    return RoundRecord(
        *head,  # type: ignore[arg-type]
        survivors=tuple(json.loads(str(survivors))),
        dropped=tuple(json.loads(str(dropped))),
    )


def _release(row: Sequence[object]) -> ReleaseRecord:
    r = list(row)
    r[6] = tuple(json.loads(str(r[6])))
    r[8] = bytes(r[8])  # type: ignore[arg-type]
    return ReleaseRecord(*r)  # type: ignore[arg-type]


class RoundQueries(Connected):
    def open_round(
        self, rec: RoundRecord, silos: Sequence[str], payload: str
    ) -> tuple[RoundRecord, bool]:
        """Store a new round and one command with ``payload`` per silo, or return the
        round that holds the key already (open or completed) and False."""
        with self._write() as db:
            if self.dialect.subject_lock:
                key = f"fedgov-round\x1f{rec.model_id}\x1f{rec.period_start_ms}\x1f{rec.part}"
                db.execute(self.dialect.subject_lock, (key,))
            row = db.execute(
                f"SELECT {_ROUND_COLS} FROM secagg_rounds WHERE model_id=? AND "
                "period_start_ms=? AND part=? AND status IN ('open', 'completed') "
                "ORDER BY opened_ms DESC LIMIT 1",
                (rec.model_id, rec.period_start_ms, rec.part),
            ).fetchone()
            if row is not None:
                return _round(row), False
            db.execute(
                f"INSERT INTO secagg_rounds ({_ROUND_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    *(getattr(rec, f) for f in _ROUND_COLS.split(", ")[:12]),
                    json.dumps(list(rec.survivors)),
                    json.dumps(list(rec.dropped)),
                ),
            )
            insert_commands(
                db, rec.round_id, "secagg_round", rec.model_id, "", silos,
                f"secure round {rec.round_id[:8]}", rec.opened_ms, payload,
                notify=self.dialect.notify_commands,
            )  # fmt: skip
        return rec, True

    def get_round(self, round_id: str) -> RoundRecord | None:
        rows = self._query(f"SELECT {_ROUND_COLS} FROM secagg_rounds WHERE round_id=?", (round_id,))
        return _round(rows[0]) if rows else None

    def list_rounds(self, model_id: str = "", *, status: str = "") -> list[RoundRecord]:
        where, args = [], []
        if model_id:
            where.append("model_id=?")
            args.append(model_id)
        if status:
            where.append("status=?")
            args.append(status)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._query(
            f"SELECT {_ROUND_COLS} FROM secagg_rounds {clause}ORDER BY opened_ms, round_id", args
        )
        return [_round(r) for r in rows]

    def add_round_message(self, round_id: str, stage: int, silo_id: str, data: bytes) -> bool:
        """Store a silo's message of a stage; False if the same one is stored already."""
        with self._write() as db:
            row = db.execute(
                "SELECT payload FROM secagg_messages WHERE round_id=? AND stage=? AND silo_id=?",
                (round_id, stage, silo_id),
            ).fetchone()
            if row is not None:
                if bytes(row[0]) != data:
                    raise ReportRejected(
                        f"round {round_id}: silo {silo_id!r} already sent a different stage-"
                        f"{stage} message; a silo says one thing per stage"
                    )
                return False
            db.execute(
                "INSERT INTO secagg_messages (round_id, stage, silo_id, payload, received_ms) "
                "VALUES (?,?,?,?,?)",
                (round_id, stage, silo_id, data, now_ms()),
            )
            return True

    def round_messages(self, round_id: str, stage: int) -> dict[str, bytes]:
        rows = self._query(
            "SELECT silo_id, payload FROM secagg_messages WHERE round_id=? AND stage=? "
            "ORDER BY silo_id",
            (round_id, stage),
            binary=True,
        )
        return {str(r[0]): bytes(r[1]) for r in rows}

    def round_senders(self, round_id: str, stage: int) -> set[str]:
        """Who sent a message of the stage (without reading the messages)."""
        rows = self._query(
            "SELECT silo_id FROM secagg_messages WHERE round_id=? AND stage=?", (round_id, stage)
        )
        return {str(r[0]) for r in rows}

    def advance_round(
        self,
        round_id: str,
        stage: int,
        deadline_ms: int,
        *,
        survivors: Sequence[str] = (),
        dropped: Sequence[str] = (),
    ) -> bool:
        """Move an open round from ``stage`` to ``stage + 1``; False if another did."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE secagg_rounds SET stage=?, deadline_ms=?, survivors=?, dropped=? "
                "WHERE round_id=? AND stage=? AND status='open'",
                (
                    stage + 1,
                    deadline_ms,
                    json.dumps(list(survivors)),
                    json.dumps(list(dropped)),
                    round_id,
                    stage,
                ),
            )
            return cur.rowcount == 1

    def claim_round(
        self, round_id: str, deadline_ms: int, new_deadline_ms: int, reason: str | None = None
    ) -> bool:
        """Renew or take over the claim on forming a round's sum (stage 5): move its
        deadline from ``deadline_ms`` (compare and set) to ``new_deadline_ms``, with
        ``reason`` if given; False if the round ended or another moved it first."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE secagg_rounds SET deadline_ms=?, reason=COALESCE(?, reason) "
                "WHERE round_id=? AND stage=5 AND status='open' AND deadline_ms=?",
                (new_deadline_ms, reason, round_id, deadline_ms),
            )
            return cur.rowcount == 1

    def end_round(
        self, round_id: str, status: str, reason: str, releases: Sequence[ReleaseRecord] = ()
    ) -> bool:
        """Complete or fail an open round, with its releases, and forget its messages.

        False if the round had ended already, or (completing) if another round of the
        same key completed first: then nothing of this one is published.
        """
        with self._write() as db:
            row = db.execute(
                f"SELECT model_id, period_start_ms, part FROM secagg_rounds "
                f"WHERE round_id=? AND status='open'{self.dialect.for_update}",
                (round_id,),
            ).fetchone()
            if row is None:
                return False
            won = not (status == "completed" and _completed_other(db, round_id, row))
            if not won:
                status, reason, releases = "failed", "another round of this key completed", ()
            db.execute(
                "UPDATE secagg_rounds SET status=?, reason=? WHERE round_id=?",
                (status, reason, round_id),
            )
            db.execute("DELETE FROM secagg_messages WHERE round_id=?", (round_id,))
            db.executemany(
                f"INSERT INTO secagg_releases ({_RELEASE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r.round_id,
                        r.model_id,
                        r.model_version,
                        r.period_start_ms,
                        r.period_end_ms,
                        r.part,
                        json.dumps(list(r.silos)),
                        r.k,
                        r.stats,
                        r.withheld_json,
                        r.released_unix_ms,
                    )
                    for r in releases
                ],
            )
            return won

    def period_specs(self, model_id: str, start_ms: int, end_ms: int) -> list[tuple[str, str]]:
        """(version, spec digest) of the model's reports whose window ends in the period."""
        rows = self._query(
            "SELECT DISTINCT model_version, spec_digest FROM reports WHERE model_id=? AND "
            "window_end_ms>=? AND window_end_ms<? ORDER BY model_version, spec_digest",
            (model_id, start_ms, end_ms),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def releases(self, model_id: str = "", model_version: str = "") -> list[ReleaseRecord]:
        """Released secure sums of a model (one version, if given; every model's when
        ``model_id`` is empty), oldest period first."""
        where, args = ("model_id=?", [model_id]) if model_id else ("1=1", [])
        if model_version:
            where += " AND model_version=?"
            args.append(model_version)
        rows = self._query(
            f"SELECT {_RELEASE_COLS} FROM secagg_releases WHERE {where} "
            "ORDER BY period_start_ms, part, model_version",
            args,
            binary=True,
        )
        return [_release(r) for r in rows]


def _completed_other(db: Executor, round_id: str, key: Sequence[object]) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM secagg_rounds WHERE model_id=? AND period_start_ms=? AND part=? "
            "AND status='completed' AND round_id<>?",
            (*key, round_id),
        ).fetchone()
        is not None
    )
