"""SQLite: writing a batch of reports, reading one back, upgrading older databases.

Kept apart from :mod:`aggregator.store._sqlite` (the store) so that the
group-commit write path reads as one piece.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TypeVar

from fedgov.report import Report, ReportLink
from fedgov.wire import report_from_bytes, report_link_from_bytes, report_to_bytes

__all__ = [
    "REPORT_COLS",
    "PendingReport",
    "insert_reports",
    "migrate",
    "stored_link",
    "stored_report",
]

_T = TypeVar("_T")

REPORT_COLS = (
    "report_id, silo_id, jurisdiction, model_id, model_version, spec_digest, "
    "window_start_ms, window_end_ms, received_ms, allow, payload, payload_pb"
)


class PendingReport:
    """A report queued by ``SqliteStore.add_report``, and what became of it."""

    __slots__ = ("report", "payload", "drift", "added", "done", "error")

    def __init__(self, report: Report) -> None:
        self.report = report
        self.payload = report_to_bytes(report)
        features = (report.metrics.get("drift") or {}).get("features") or {}
        self.drift = [
            (name, float(m["psi"]), m.get("psi_pvalue"))
            for name, m in features.items()
            if m.get("psi") is not None
        ]
        self.added = False
        self.done = False
        self.error: BaseException | None = None

    def fail(self, error: BaseException | None) -> None:
        self.error = error
        self.done = True


def insert_reports(db: sqlite3.Connection, batch: list[PendingReport], t: int) -> None:
    """Insert the reports not stored yet (the first of equal ids in the batch wins).

    Each statement writes all its rows at once: CPython's sqlite3 releases and
    retakes the GIL around every step, and under load retaking it is what costs,
    so executemany (a step per row) would hand the write lock's owner to the
    back of the GIL queue once per row.
    """
    ids = [p.report.report_id for p in batch]
    stored = {
        row[0]
        for chunk in _chunks(ids, 1)
        for row in db.execute(
            f"SELECT report_id FROM reports WHERE report_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
    }
    new: list[PendingReport] = []
    for p in batch:
        if p.report.report_id not in stored:
            stored.add(p.report.report_id)
            p.added = True
            new.append(p)
    if not new:
        return
    _insert_rows(
        db,
        f"INSERT INTO reports ({REPORT_COLS}) VALUES ",
        "(?,?,?,?,?,?,?,?,?,?,'',?)",
        [
            (
                r.report_id,
                r.silo_id,
                r.jurisdiction,
                r.model_id,
                r.model_version,
                r.spec_digest,
                r.window_start_ms,
                r.window_end_ms,
                t,
                int(r.decision.allow),
                p.payload,
            )
            for p in new
            for r in (p.report,)
        ],
    )
    _insert_rows(
        db,
        "INSERT INTO feature_drift VALUES ",
        "(?,?,?,?,?,?,?,?,?)",
        [
            (
                r.report_id,
                r.silo_id,
                r.jurisdiction,
                r.model_id,
                r.model_version,
                name,
                psi,
                pvalue,
                r.window_end_ms,
            )
            for p in new
            for r in (p.report,)
            for name, psi, pvalue in p.drift
        ],
    )
    # SQLite applies the rows of one upsert in order and writers are serialized, so
    # ">=" lets the later of two equally new reports win, within a batch too.
    _insert_rows(
        db,
        "INSERT INTO latest_reports VALUES ",
        "(?,?,?,?,?,?)",
        [
            (r.silo_id, r.model_id, r.model_version, r.report_id, r.window_end_ms, t)
            for p in new
            for r in (p.report,)
        ],
        " ON CONFLICT (silo_id, model_id, model_version) DO UPDATE SET "
        "report_id=excluded.report_id, window_end_ms=excluded.window_end_ms, "
        "received_ms=excluded.received_ms "
        "WHERE (excluded.window_end_ms, excluded.received_ms) "
        ">= (latest_reports.window_end_ms, latest_reports.received_ms)",
    )
    silos = sorted({p.report.silo_id for p in new})
    for chunk in _chunks(silos, 1):
        db.execute(
            f"UPDATE silos SET last_seen_ms=? WHERE silo_id IN ({','.join('?' * len(chunk))})",
            (t, *chunk),
        )


_MAX_PARAMS = 32_000  # SQLite >= 3.32 allows 32766 parameters per statement


def _chunks(items: Sequence[_T], width: int) -> Iterator[Sequence[_T]]:
    """Slices of items that bind at most _MAX_PARAMS parameters of ``width`` each."""
    step = max(1, _MAX_PARAMS // width)
    for i in range(0, len(items), step):
        yield items[i : i + step]


def _insert_rows(
    db: sqlite3.Connection, head: str, row: str, rows: list[tuple[object, ...]], tail: str = ""
) -> None:
    """``head`` + ``row`` once per row + ``tail``, as few statements as the limit allows."""
    if not rows:
        return
    for chunk in _chunks(rows, len(rows[0])):
        db.execute(
            head + ",".join([row] * len(chunk)) + tail,
            [v for r in chunk for v in r],
        )


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database made by an older release up to this schema (idempotent)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(reports)")}
    if "payload_pb" not in columns:
        db.execute("ALTER TABLE reports ADD COLUMN payload_pb BLOB")
    if db.execute("SELECT 1 FROM latest_reports LIMIT 1").fetchone() is None:
        # Reports stored before the pointer table existed (a no-op on a new database).
        db.execute(
            "INSERT INTO latest_reports SELECT silo_id, model_id, model_version, report_id, "
            "window_end_ms, received_ms FROM reports r WHERE r.rowid = ("
            "SELECT r2.rowid FROM reports r2 WHERE r2.silo_id=r.silo_id "
            "AND r2.model_id=r.model_id AND r2.model_version=r.model_version "
            "ORDER BY r2.window_end_ms DESC, r2.received_ms DESC, r2.rowid DESC LIMIT 1)"
        )


def stored_report(row: tuple[str, bytes | None]) -> Report:
    """A stored report: protobuf bytes, or the JSON that rows written before them hold."""
    payload, payload_pb = row
    if payload_pb is not None:
        return report_from_bytes(payload_pb)
    return Report.from_dict(json.loads(payload))


def stored_link(row: tuple[str, bytes | None]) -> ReportLink:
    """The chain link of a stored report (:func:`stored_report` without decoding the counts)."""
    payload, payload_pb = row
    if payload_pb is not None:
        return report_link_from_bytes(payload_pb)
    return ReportLink.of(Report.from_dict(json.loads(payload)))
