"""The silo's durable state: one SQLite file (``state_dir/agent.db``), one transaction per step.

Tables::

    outbox    reports committed before they are sent, deleted after the aggregator's ack;
              they leave in the order they were put (seq), so the aggregator sees the chain
              in order
    windows   the input windows already reported (or refused): key -> "size:mtime_ns"
    chain     per model version: the link the next report carries (``head``, the chain
              hash of the last report) and the id and link of that last report
    commands  the commands from the aggregator this silo handled and acknowledged
    checkpoints  the aggregator's signed audit checkpoints its acks carried (per key and seq,
              the first kept): the silo's copy of the anchors of the aggregator's log
    meta      what was done to the file once (the import of pre-SQLite state files)
    privacy_ledger  the zCDP charged for every noised report recorded (agent.privacy): the
              silo's privacy budget over time
    raw_windows, secagg_answered
              secure-aggregation rounds: the unguarded statistics of each window (never
              sent in the clear) and the rounds answered; see :mod:`agent.round_ledger`

Each step is one transaction, so a crash between steps cannot leave them
disagreeing:

- a report is built: linked to the chain, put in the outbox, its window marked
  and the chain advanced (:meth:`AgentState.record_report`);
- a window that cannot be read is marked so it is not retried until it
  changes (:meth:`AgentState.mark_window`);
- the aggregator acknowledged a report: it leaves the outbox, and the
  checkpoint the acknowledgement carried is kept (:meth:`AgentState.record_ack`);
- a command was handled: it is logged as acknowledged
  (:meth:`AgentState.record_command`).

``synchronous=FULL`` means a step that returned survives a crash or
``kill -9``; a crash mid-send leaves the report in the outbox and the next
flush sends it again, which the aggregator's idempotent ingest stores once.
The audit log is not here: it is evidence, an append-only hash chain in its
own file (:mod:`fedgov.audit`).

Agents before this file kept the same state in four files (``outbox.db``,
``processed.json``, ``chain.json``, ``commands.jsonl``); they are imported on
open (see :mod:`agent._legacy_state`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import _legacy_state as legacy
from agent.privacy import LEDGER_SCHEMA, charge_report, rho_spent
from agent.round_ledger import SCHEMA as _ROUND_SCHEMA
from agent.round_ledger import RoundLedger
from fedgov._sqlite import immediate
from fedgov.checkpoints import Checkpoint
from fedgov.report import Report, chain_hash, now_ms

__all__ = ["STATE_FILE", "AgentState", "Outbox", "Window"]

log = logging.getLogger(__name__)

STATE_FILE = "agent.db"
_SCHEMA_VERSION = 3  # 2: checkpoints, 3: privacy_ledger
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chain (
    model TEXT PRIMARY KEY,
    head TEXT NOT NULL,
    last_report_id TEXT NOT NULL,
    last_prev TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    job_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    key_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    head TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (key_id, seq)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
    + LEDGER_SCHEMA
)
_LEGACY_IMPORTED = "legacy_files_imported"


# One statement per kind of row, for one step and for the import of older state files.
_PUT_REPORT = "INSERT OR IGNORE INTO outbox (report_id, payload) VALUES (?, ?)"
_MARK_WINDOW = "INSERT OR REPLACE INTO windows (key, fingerprint) VALUES (?, ?)"
_SET_CHAIN = (
    "INSERT OR REPLACE INTO chain (model, head, last_report_id, last_prev) VALUES (?, ?, ?, ?)"
)
_LOG_COMMAND = (
    "INSERT OR IGNORE INTO commands (command_id, kind, job_id, status, received_ms)"
    " VALUES (?, ?, ?, ?, ?)"
)


_CP_COLS = "key_id, seq, head, time_ms, signature"


def _checkpoint(row: Sequence[Any]) -> Checkpoint:
    key_id, seq, head, time_ms, signature = row
    return Checkpoint(int(seq), str(head), int(time_ms), bytes(signature), str(key_id))


@dataclass(frozen=True)
class Window:
    """One input window in the ledger: ``key`` names model and file, ``fingerprint`` its
    size and modification time (a window is new again when it changes)."""

    key: str
    fingerprint: str


def _chain_key(model_id: str, model_version: str) -> str:
    return f"{model_id}/{model_version}"


class AgentState:
    """The silo's state in ``state_dir/agent.db``; safe to share between threads."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / STATE_FILE
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            with self.transaction() as db:  # executescript() would commit on its own
                for statement in filter(str.strip, (_SCHEMA + ";\n" + _ROUND_SCHEMA).split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            self._import_legacy()
        except BaseException:
            self._db.close()
            raise
        self.outbox = Outbox(self)
        self.rounds = RoundLedger(self.transaction)  # secure rounds (agent.round_ledger)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One step: everything inside commits together, or nothing does."""
        with immediate(self._db, self._lock) as db:
            yield db

    # -- reports -----------------------------------------------------------------
    def record_report(
        self, report: Report, window: Window | None = None, *, budget: float | None = None
    ) -> Report:
        """Charge ``report``'s zCDP to the privacy ledger (filling in its ``rho_total``),
        link it to this silo's previous report of its model version, put it in the
        outbox, mark its window (if any) and advance the chain, in one transaction.
        Returns the linked report. Recording the same report id again gives the same
        link and leaves the outbox as it was. :class:`agent.privacy.BudgetExhausted`
        when the charge would pass ``budget``: then nothing is recorded."""
        with self.transaction() as db:
            report = charge_report(db, report, budget)
            report = self._link(db, report)
            self._put(db, report)
            self._advance_chain(db, report)
            if window is not None:
                self._mark(db, window)
        return report

    def _link(self, db: sqlite3.Connection, report: Report) -> Report:
        row = db.execute(
            "SELECT head, last_report_id, last_prev FROM chain WHERE model=?",
            (_chain_key(report.model_id, report.model_version),),
        ).fetchone()
        if row is None:
            return dataclasses.replace(report, prev_report_hash="")
        head, last_id, last_prev = row
        if last_id == report.report_id:
            # The same window again (reprocessed after its ledger entry was lost): same link.
            return dataclasses.replace(report, prev_report_hash=last_prev)
        return dataclasses.replace(report, prev_report_hash=head)

    def _put(self, db: sqlite3.Connection, report: Report) -> None:
        db.execute(_PUT_REPORT, (report.report_id, report.to_json()))

    def _advance_chain(self, db: sqlite3.Connection, report: Report) -> None:
        db.execute(
            _SET_CHAIN,
            (
                _chain_key(report.model_id, report.model_version),
                chain_hash(report),
                report.report_id,
                report.prev_report_hash,
            ),
        )

    def chain_head(self, model_id: str, model_version: str) -> str:
        """The link the next report of this model version will carry ('' for the first)."""
        with self._lock:
            row = self._db.execute(
                "SELECT head FROM chain WHERE model=?", (_chain_key(model_id, model_version),)
            ).fetchone()
        return str(row[0]) if row else ""

    def rho_spent(self) -> float:
        """The silo's cumulative zCDP charge (the privacy ledger's total)."""
        with self._lock:
            return rho_spent(self._db)

    # -- windows -----------------------------------------------------------------
    def processed_windows(self) -> dict[str, str]:
        """Window key -> fingerprint of every window reported or refused."""
        with self._lock:
            rows = self._db.execute("SELECT key, fingerprint FROM windows").fetchall()
        return {str(k): str(v) for k, v in rows}

    def mark_window(self, window: Window) -> None:
        """Mark a window done without a report (it could not be read; retried when it changes)."""
        with self.transaction() as db:
            self._mark(db, window)

    def _mark(self, db: sqlite3.Connection, window: Window) -> None:
        db.execute(_MARK_WINDOW, (window.key, window.fingerprint))

    # -- commands ----------------------------------------------------------------
    def command_acked(self, command_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM commands WHERE command_id=?", (command_id,)
            ).fetchone()
        return row is not None

    def record_command(self, command_id: str, kind: str, job_id: str, status: str) -> None:
        """Log a handled command (before its ack is sent); the first outcome is kept."""
        with self.transaction() as db:
            db.execute(_LOG_COMMAND, (command_id, kind, job_id, status, now_ms()))

    # -- the aggregator's checkpoints ----------------------------------------------
    def record_ack(self, report_id: str, checkpoint: Checkpoint | None) -> Checkpoint | None:
        """The aggregator acknowledged ``report_id``: it leaves the outbox and the ack's
        checkpoint is kept, in one transaction. Returns the checkpoint kept before for
        the same key and record if it names another head (the aggregator's log changed
        under it), else None."""
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE report_id=?", (report_id,))
            if checkpoint is None:
                return None
            c = checkpoint
            db.execute(
                "INSERT OR IGNORE INTO checkpoints (key_id, seq, head, time_ms, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                (c.key_id, c.seq, c.head, c.time_ms, c.signature),
            )
            row = db.execute(
                f"SELECT {_CP_COLS} FROM checkpoints WHERE key_id=? AND seq=?", (c.key_id, c.seq)
            ).fetchone()
        kept = _checkpoint(row)
        return kept if kept.head != c.head else None

    def checkpoints(self) -> list[Checkpoint]:
        """The aggregator's checkpoints kept here, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_CP_COLS} FROM checkpoints ORDER BY seq, time_ms"
            ).fetchall()
        return [_checkpoint(r) for r in rows]

    # -- the files of agents before this one --------------------------------------
    def _import_legacy(self) -> None:
        """Import the four pre-SQLite state files in one transaction, then rename them
        ``*.migrated``. The import is recorded in ``meta`` in the same transaction, so a
        crash before the renames finish never imports them twice."""
        found = legacy.find(self.dir)
        if not found:
            return
        with self.transaction() as db:
            done = db.execute("SELECT value FROM meta WHERE key=?", (_LEGACY_IMPORTED,)).fetchone()
            if done is None:
                old = legacy.read(self.dir)
                db.executemany(_PUT_REPORT, old.outbox)
                db.executemany(_MARK_WINDOW, sorted(old.windows.items()))
                db.executemany(
                    _SET_CHAIN, [(model, *link) for model, link in sorted(old.chain.items())]
                )
                db.executemany(_LOG_COMMAND, old.commands)
                note = {"at_ms": now_ms(), "files": [p.name for p in found]}
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    (_LEGACY_IMPORTED, json.dumps(note)),
                )
                log.warning(
                    "%s: imported the old state files (%d pending reports, %d windows, "
                    "%d chains, %d commands) into %s",
                    self.dir,
                    len(old.outbox),
                    len(old.windows),
                    len(old.chain),
                    len(old.commands),
                    STATE_FILE,
                )
            else:
                log.warning(
                    "%s: old state files %s were imported before (%s); renaming them only",
                    self.dir,
                    ", ".join(p.name for p in found),
                    done[0],
                )
        legacy.retire(found)


class Outbox:
    """The reports waiting for the aggregator's acknowledgement, oldest first."""

    def __init__(self, state: AgentState) -> None:
        self._state = state

    def pending(self) -> list[Report]:
        with self._state._lock:
            rows = self._state._db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
        return [Report.from_dict(json.loads(r[0])) for r in rows]

    def remove(self, report_id: str) -> None:
        """The aggregator acknowledged ``report_id``: it leaves the outbox (one transaction)."""
        with self._state.transaction() as db:
            db.execute("DELETE FROM outbox WHERE report_id=?", (report_id,))

    def __len__(self) -> int:
        with self._state._lock:
            return int(self._state._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
