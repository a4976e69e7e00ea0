"""fedgov._sqlite.immediate: one write transaction, all or nothing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from fedgov._sqlite import immediate


def _db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    return db


def test_what_is_written_inside_is_committed(tmp_path: Path) -> None:
    db = _db(tmp_path / "a.db")
    with immediate(db, threading.Lock()) as tx:
        tx.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction
    other = sqlite3.connect(tmp_path / "a.db")
    assert other.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_an_error_inside_rolls_everything_back_and_is_raised(tmp_path: Path) -> None:
    db = _db(tmp_path / "a.db")
    with pytest.raises(sqlite3.IntegrityError), immediate(db, threading.Lock()) as tx:
        tx.execute("INSERT INTO t VALUES (1)")
        tx.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction
    assert db.execute("SELECT x FROM t").fetchall() == []


def test_a_failed_commit_is_rolled_back(tmp_path: Path) -> None:
    db = _db(tmp_path / "a.db")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE c (p INTEGER REFERENCES t(x) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), immediate(db, threading.Lock()) as tx:
        tx.execute("INSERT INTO c VALUES (7)")  # checked only at COMMIT
    assert not db.in_transaction
    assert db.execute("SELECT p FROM c").fetchall() == []


def test_the_lock_is_held_inside_and_released_after(tmp_path: Path) -> None:
    db = _db(tmp_path / "a.db")
    lock = threading.Lock()
    with immediate(db, lock):
        assert lock.locked()
    assert not lock.locked()
