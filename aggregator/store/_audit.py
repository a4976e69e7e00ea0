"""Audit anchors in the store: silos' audit heads and the aggregator's signed checkpoints.

Both tables are append-only: nothing here updates or deletes a row.

* ``audit_heads``: each report's audit head (:class:`fedgov.audit.AuditHead`)
  is written by ``add_report`` in the report's own transaction (the backends'
  write paths), duplicates of a stored report included, as a resent report
  carries a newer head. A head equal to a stored one adds nothing; a head
  naming another hash for a (silo, seq) already stored is kept beside it, and
  :meth:`AuditQueries.conflicting_heads` finds it (a rewritten log).
* ``audit_checkpoints``: one row per checkpoint per key; a second checkpoint
  of the same seq is refused, and the one stored is returned for comparison.
* ``replica_keys``: the replica whose chain each key signs, written once
  (several aggregators on one store keep one chain and one key each).
"""

from __future__ import annotations

from aggregator.store._schema import HEAD_COLS
from aggregator.store._sql import Connected, Row
from fedgov.anchors import ReceivedHead
from fedgov.checkpoints import Checkpoint
from fedgov.report import Report, now_ms

__all__ = ["HEAD_ON_CONFLICT", "INSERT_HEAD", "AuditQueries", "head_row"]

INSERT_HEAD = f"INSERT INTO audit_heads ({HEAD_COLS}) VALUES "
"""Followed by one ``(?,?,?,?,?)`` per row and :data:`HEAD_ON_CONFLICT`."""
HEAD_ON_CONFLICT = " ON CONFLICT (silo_id, seq, hash) DO NOTHING"

_CP_COLS = "key_id, seq, head, time_ms, signature"


def head_row(report: Report, received_ms: int) -> tuple[object, ...] | None:
    """The ``audit_heads`` row of a report (None: it carries no head)."""
    h = report.audit_head
    if h is None:
        return None
    return (report.silo_id, h.seq, h.hash, report.report_id, received_ms)


def _head(row: Row) -> ReceivedHead:
    return ReceivedHead(int(row[0]), str(row[1]), str(row[2]), int(row[3]))


def _checkpoint(row: Row) -> Checkpoint:
    return Checkpoint(int(row[1]), str(row[2]), int(row[3]), bytes(row[4]), str(row[0]))


class AuditQueries(Connected):
    def audit_heads(self, silo_id: str) -> list[ReceivedHead]:
        """Every head the silo's reports carried, by seq, then as received."""
        rows = self._query(
            "SELECT seq, hash, report_id, received_ms FROM audit_heads WHERE silo_id=? "
            f"ORDER BY seq, received_ms, hash{self.dialect.bytewise}",
            (silo_id,),
        )
        return [_head(r) for r in rows]

    def conflicting_heads(self, silo_id: str, seq: int, digest: str) -> list[ReceivedHead]:
        """The stored heads of record ``seq`` of the silo's log that name another hash."""
        rows = self._query(
            "SELECT seq, hash, report_id, received_ms FROM audit_heads "
            "WHERE silo_id=? AND seq=? AND hash<>? ORDER BY received_ms",
            (silo_id, seq, digest),
        )
        return [_head(r) for r in rows]

    def add_checkpoint(self, cp: Checkpoint) -> Checkpoint | None:
        """Store a checkpoint; None if stored, else the one stored before for its seq."""
        with self._write() as db:
            inserted = db.execute(
                f"INSERT INTO audit_checkpoints ({_CP_COLS}) VALUES (?,?,?,?,?) "
                "ON CONFLICT (key_id, seq) DO NOTHING",
                (cp.key_id, cp.seq, cp.head, cp.time_ms, cp.signature),
            ).rowcount
            if inserted:
                return None
            row = db.execute(
                f"SELECT {_CP_COLS} FROM audit_checkpoints WHERE key_id=? AND seq=?",
                (cp.key_id, cp.seq),
            ).fetchone()
        return _checkpoint(row)

    def claim_key(self, key_id: str, replica: str) -> str:
        """The replica whose audit chain ``key_id`` signs: ``replica`` unless another
        one claimed the key first."""
        with self._write() as db:
            db.execute(
                "INSERT INTO replica_keys (key_id, replica, first_ms) VALUES (?,?,?) "
                "ON CONFLICT (key_id) DO NOTHING",
                (key_id, replica, now_ms()),
            )
            row = db.execute("SELECT replica FROM replica_keys WHERE key_id=?", (key_id,))
            return str(row.fetchone()[0])

    def checkpoints(self, key_id: str | None = None) -> list[Checkpoint]:
        """The stored checkpoints (of one key, if given), oldest first."""
        where, args = ("WHERE key_id=? ", (key_id,)) if key_id else ("", ())
        rows = self._query(
            f"SELECT {_CP_COLS} FROM audit_checkpoints {where}ORDER BY seq, time_ms", args
        )
        return [_checkpoint(r) for r in rows]

    def latest_checkpoint(self, key_id: str) -> Checkpoint | None:
        rows = self._query(
            f"SELECT {_CP_COLS} FROM audit_checkpoints WHERE key_id=? ORDER BY seq DESC LIMIT 1",
            (key_id,),
        )
        return _checkpoint(rows[0]) if rows else None
