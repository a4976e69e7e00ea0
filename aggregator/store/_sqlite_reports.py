"""SQLite: writing a batch of reports in one transaction (the group commit's write).

Kept apart from :mod:`aggregator.store._sqlite` (the store) so that the
group-commit write path reads as one piece. Dialect-specific: PostgreSQL writes
each report in one statement of its own instead (:mod:`aggregator.store._postgres`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import TypeVar

from aggregator.store._audit import HEAD_ON_CONFLICT, INSERT_HEAD, head_row
from aggregator.store._reports import drift_rows
from aggregator.store._schema import DRIFT_COLS, REPORT_COLS, report_key
from fedgov.report import Report
from fedgov.wire import report_to_bytes

__all__ = ["PendingReport", "insert_reports"]

_T = TypeVar("_T")


class PendingReport:
    """A report queued by ``SqliteStore.add_report``, and what became of it."""

    __slots__ = ("report", "key", "payload", "drift", "added", "done", "error")

    def __init__(self, report: Report) -> None:
        self.report = report
        self.key = report_key(report)
        self.payload = report_to_bytes(report)
        self.drift = drift_rows(report)
        self.added = False
        self.done = False
        self.error: BaseException | None = None

    def fail(self, error: BaseException | None) -> None:
        self.error = error
        self.done = True


def insert_reports(db: sqlite3.Connection, batch: list[PendingReport], t: int) -> None:
    """Insert the reports not stored yet (the first of equal ids in the batch wins),
    and the audit head of every report of the batch, stored before or not (see
    :mod:`aggregator.store._audit`).

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
    heads = [row for p in batch if (row := head_row(p.report, t)) is not None]
    _insert_rows(db, INSERT_HEAD, "(?,?,?,?,?)", heads, HEAD_ON_CONFLICT)
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
                *p.key,
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
        f"INSERT INTO feature_drift ({DRIFT_COLS}) VALUES ",
        "(?,?,?,?,?,?,?,?,?)",
        [
            (*p.key, name, psi, pvalue, p.report.window_end_ms)
            for p in new
            for name, psi, pvalue in p.drift
        ],
    )
    # SQLite applies the rows of one upsert in order and writers are serialized, so
    # ">=" lets the later of two equally new reports win, within a batch too.
    _insert_rows(
        db,
        "INSERT INTO latest_reports (silo_id, model_id, model_version, report_id, "
        "window_end_ms, received_ms) VALUES ",
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
