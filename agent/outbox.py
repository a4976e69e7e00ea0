"""A durable outbox: a report is committed to SQLite before it is sent, and
deleted only after the aggregator's acknowledgement.

SQLite with ``synchronous=FULL`` means a report that ``put`` returned for
survives a crash or ``kill -9``; a crash mid-send leaves it in the outbox and
the next flush sends it again, which the aggregator's idempotent ingest
stores once. Reports leave in the order they were put (``seq``), so the
aggregator sees each silo's chain in order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from fedgov.report import Report

__all__ = ["Outbox"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL
);
"""


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def put(self, report: Report) -> None:
        """Commit the report; putting the same report id again is a no-op."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (report_id, payload) VALUES (?, ?)",
                (report.report_id, report.to_json()),
            )

    def pending(self) -> list[Report]:
        with self._lock:
            rows = self._db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
        return [Report.from_dict(json.loads(r[0])) for r in rows]

    def remove(self, report_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE report_id=?", (report_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
