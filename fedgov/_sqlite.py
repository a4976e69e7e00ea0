"""One SQLite write transaction, as the agent's state and the aggregator's SQLite store take it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["immediate"]


@contextmanager
def immediate(
    db: sqlite3.Connection, lock: AbstractContextManager[object]
) -> Iterator[sqlite3.Connection]:
    """``db`` under ``lock`` in ``BEGIN IMMEDIATE ... COMMIT``: everything inside commits
    together, or nothing does (``ROLLBACK`` on any error, a failed ``COMMIT`` included).

    ``db`` is in autocommit mode (``isolation_level=None``); IMMEDIATE takes SQLite's
    write lock at BEGIN rather than at the first write.
    """
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
