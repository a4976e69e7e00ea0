"""What a silo keeps for secure-aggregation rounds, in its ``agent.db``.

Tables (created with the others by :class:`agent.state.AgentState`)::

    raw_windows      the unguarded statistics of each reported window (no suppression,
                     no noise), never sent in the clear: a round masks their sum over a
                     period. One row per report id, so a window folded again after a
                     crash replaces its row instead of counting twice. Kept
                     ``secure_rounds.keep_days`` after the window's end.
    secagg_answered  the rounds this silo answered an unmask for, per (model, period,
                     part), with the period's bounds. Written in the same transaction
                     that checks it, before the answer is sent: a replayed round, or a
                     second one for the same key or an overlapping period of the same
                     model, is refused, after a restart too (two survivor sets of one
                     period would difference to one silo's vector).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

from fedgov.stats import WindowStats

__all__ = ["SCHEMA", "Answered", "RawWindow", "RoundLedger"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_windows (
    report_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    spec_digest TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    stats TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_windows_by_end ON raw_windows (model_id, window_end_ms);
CREATE TABLE IF NOT EXISTS secagg_answered (
    model_id TEXT NOT NULL,
    period TEXT NOT NULL,
    part TEXT NOT NULL,
    period_start_ms INTEGER NOT NULL,
    period_end_ms INTEGER NOT NULL,
    round_id TEXT NOT NULL,
    answered_ms INTEGER NOT NULL,
    PRIMARY KEY (model_id, period, part)
);
"""

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Answered:
    """A round this silo answered an unmask for."""

    model_id: str
    period: str
    part: str
    period_start_ms: int
    period_end_ms: int
    round_id: str
    answered_ms: int


@dataclass(frozen=True)
class RawWindow:
    """Where one window's raw statistics belong: model, version, spec, bounds."""

    report_id: str
    model_id: str
    model_version: str
    spec_digest: str
    window_start_ms: int
    window_end_ms: int


class RoundLedger:
    """Raw windows and answered rounds; every method is one transaction of ``transaction``."""

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    ) -> None:
        self._tx = transaction

    # -- raw windows -----------------------------------------------------------------
    def keep_window(
        self, window: RawWindow, raw: WindowStats, *, keep_days: int, now_ms: int
    ) -> int:
        """Keep ``raw`` (unguarded) for ``window`` and drop the rows older than
        ``keep_days`` (by window end). Returns how many old rows went."""
        if raw.privacy.k is not None or raw.privacy.noised:
            raise ValueError("raw_windows keeps unguarded counts; got guarded statistics")
        if raw.spec_digest != window.spec_digest:
            raise ValueError("the statistics were counted under another spec than the window's")
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO raw_windows (report_id, model_id, model_version, "
                "spec_digest, window_start_ms, window_end_ms, stats) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    window.report_id,
                    window.model_id,
                    window.model_version,
                    window.spec_digest,
                    window.window_start_ms,
                    window.window_end_ms,
                    json.dumps(raw.to_dict(), separators=(",", ":")),
                ),
            )
            return _prune(db, now_ms - keep_days * _DAY_MS)

    def prune(self, *, keep_days: int, now_ms: int) -> int:
        """Drop the raw windows that ended more than ``keep_days`` before ``now_ms``."""
        with self._tx() as db:
            return _prune(db, now_ms - keep_days * _DAY_MS)

    def windows(self, model_id: str) -> list[RawWindow]:
        """The raw windows kept for ``model_id``, by end."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT report_id, model_id, model_version, spec_digest, window_start_ms, "
                "window_end_ms FROM raw_windows WHERE model_id=? ORDER BY window_end_ms",
                (model_id,),
            ).fetchall()
        return [RawWindow(*r) for r in rows]

    def period_sums(self, model_id: str, start_ms: int, end_ms: int) -> dict[str, WindowStats]:
        """Spec digest -> the sum of the raw windows of ``model_id`` whose end lies in
        ``[start_ms, end_ms)`` (every version of the model; a digest without such a
        window is absent, which :func:`fedgov.secagg.layout.vector_of` reads as zeros)."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT stats FROM raw_windows WHERE model_id=? AND window_end_ms >= ? "
                "AND window_end_ms < ? ORDER BY window_end_ms, report_id",
                (model_id, start_ms, end_ms),
            ).fetchall()
        sums: dict[str, WindowStats] = {}
        for (text,) in rows:
            stats = WindowStats.from_dict(json.loads(text))
            kept = sums.get(stats.spec_digest)
            sums[stats.spec_digest] = stats if kept is None else kept.merge(stats)
        return sums

    # -- answered rounds -------------------------------------------------------------
    def answered_overlapping(self, model_id: str, start_ms: int, end_ms: int) -> Answered | None:
        """A round of ``model_id`` answered before whose period overlaps ``[start, end)``."""
        with self._tx() as db:
            return _overlapping(db, model_id, start_ms, end_ms)

    def answered(self, model_id: str, period: str, part: str) -> Answered | None:
        with self._tx() as db:
            return _same_key(db, model_id, period, part)

    def record_answer(self, entry: Answered) -> Answered | None:
        """Record that ``entry``'s round is answered, unless a round of the same model
        with the same key or an overlapping period was: then return that one and write
        nothing. Checked and written in one transaction."""
        with self._tx() as db:
            found = _same_key(db, entry.model_id, entry.period, entry.part) or _overlapping(
                db, entry.model_id, entry.period_start_ms, entry.period_end_ms
            )
            if found is not None:
                return found
            db.execute(
                f"INSERT INTO secagg_answered ({_ANSWERED_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.model_id,
                    entry.period,
                    entry.part,
                    entry.period_start_ms,
                    entry.period_end_ms,
                    entry.round_id,
                    entry.answered_ms,
                ),
            )
        return None

    def counts(self) -> Mapping[str, int]:
        """Rows per table (for logs and tests)."""
        with self._tx() as db:
            return {
                t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in ("raw_windows", "secagg_answered")
            }


_ANSWERED_COLS = "model_id, period, part, period_start_ms, period_end_ms, round_id, answered_ms"


def _prune(db: sqlite3.Connection, before_ms: int) -> int:
    return db.execute("DELETE FROM raw_windows WHERE window_end_ms < ?", (before_ms,)).rowcount


def _same_key(db: sqlite3.Connection, model_id: str, period: str, part: str) -> Answered | None:
    return _one(
        db,
        f"SELECT {_ANSWERED_COLS} FROM secagg_answered WHERE model_id=? AND period=? AND part=?",
        (model_id, period, part),
    )


def _one(db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> Answered | None:
    row = db.execute(sql, args).fetchone()
    return None if row is None else Answered(*row)


def _overlapping(
    db: sqlite3.Connection, model_id: str, start_ms: int, end_ms: int
) -> Answered | None:
    return _one(
        db,
        f"SELECT {_ANSWERED_COLS} FROM secagg_answered WHERE model_id=? "
        "AND period_start_ms < ? AND ? < period_end_ms ORDER BY answered_ms LIMIT 1",
        (model_id, end_ms, start_ms),
    )
