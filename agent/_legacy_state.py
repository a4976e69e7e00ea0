"""The four state files of agents before ``agent.db``: found, read, and renamed once imported.

Those agents kept their state in ``state_dir`` as:

- ``outbox.db``: SQLite, ``outbox(seq, report_id UNIQUE, payload)``, the reports
  not yet acknowledged, sent in ``seq`` order;
- ``processed.json``: ``{"<model_id>:<resolved path>": "<size>:<mtime_ns>"}``,
  the windows reported (or refused);
- ``chain.json``: per ``"<model_id>/<model_version>"`` the chain hash of the
  last report, and under ``"...#id"`` and ``"...#prev"`` its id and its link;
- ``commands.jsonl``: one JSON object per handled command (``command_id``,
  ``kind``, ``job_id``, ``status``, ``received_ms``), appended before the ack.

:mod:`agent.state` imports them into its database in one transaction; then
:func:`retire` renames each to ``<name>.migrated`` (never deletes: they are
evidence of what the silo did).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedgov.errors import DataError

__all__ = ["FILES", "LegacyState", "find", "read", "retire"]

log = logging.getLogger(__name__)

FILES = ("outbox.db", "processed.json", "chain.json", "commands.jsonl")
_SUFFIX = ".migrated"


@dataclass
class LegacyState:
    outbox: list[tuple[str, str]] = field(default_factory=list)  # (report id, payload), in order
    windows: dict[str, str] = field(default_factory=dict)  # window key -> fingerprint
    chain: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # head, last id, prev
    commands: list[tuple[str, str, str, str, int]] = field(default_factory=list)


def find(state_dir: Path) -> list[Path]:
    """The old state files present in ``state_dir``."""
    return [state_dir / name for name in FILES if (state_dir / name).exists()]


def read(state_dir: Path) -> LegacyState:
    """Everything the old files hold; a file that cannot be read is a DataError naming it."""
    old = LegacyState()
    if (state_dir / "outbox.db").exists():
        old.outbox = _read_outbox(state_dir / "outbox.db")
    if (state_dir / "processed.json").exists():
        old.windows = {str(k): str(v) for k, v in _read_json(state_dir / "processed.json").items()}
    if (state_dir / "chain.json").exists():
        old.chain = _chain(_read_json(state_dir / "chain.json"))
    if (state_dir / "commands.jsonl").exists():
        old.commands = _read_commands(state_dir / "commands.jsonl")
    return old


def retire(paths: list[Path]) -> None:
    """Rename each imported file to ``<name>.migrated`` (``.migrated.1``... if taken)."""
    for path in paths:
        target = _free_name(path.with_name(path.name + _SUFFIX))
        path.rename(target)
        for side in ("-wal", "-shm"):  # SQLite's files beside outbox.db, if a crash left them
            extra = path.with_name(path.name + side)
            if extra.exists():
                extra.rename(target.with_name(target.name + side))
        log.info("%s imported; kept as %s", path, target.name)


def _free_name(path: Path) -> Path:
    n, candidate = 0, path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _read_outbox(path: Path) -> list[tuple[str, str]]:
    # A normal read-write connection, as the old agent opened it: SQLite replays a WAL
    # left by a crash, and checkpoints it into the file when this connection closes.
    try:
        db = sqlite3.connect(str(path))
        try:
            has_table = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='outbox'"
            ).fetchone()
            rows = (
                db.execute("SELECT report_id, payload FROM outbox ORDER BY seq").fetchall()
                if has_table
                else []
            )
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path}: old outbox cannot be read ({exc}); move it aside") from None
    return [(str(rid), str(payload)) for rid, payload in rows]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: old state file cannot be read ({exc}); move it aside") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}: old state file is not a JSON object; move it aside")
    return doc


def _chain(doc: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        key: (str(head), str(doc.get(key + "#id", "")), str(doc.get(key + "#prev", "")))
        for key, head in doc.items()
        if "#" not in key
    }


def _read_commands(path: Path) -> list[tuple[str, str, str, str, int]]:
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            out.append(
                (
                    str(doc["command_id"]),
                    str(doc.get("kind", "")),
                    str(doc.get("job_id", "")),
                    str(doc.get("status", "")),
                    int(doc.get("received_ms", 0)),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            if n == len(lines):  # torn by a crash mid-append: that ack was never sent
                log.warning("%s:%d: torn last line skipped (%s)", path, n, exc)
                continue
            raise DataError(f"{path}:{n}: not a command record ({exc}); move it aside") from None
    return out
