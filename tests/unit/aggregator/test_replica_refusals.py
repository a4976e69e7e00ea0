"""What one replica refuses: a second aggregator on a SQLite file, a checkpoint key that
signs another replica's chain, a PostgreSQL store without its own audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_fedgov

from aggregator.replicas import ReplicaSettings, hold_sqlite
from aggregator.server import create_server
from aggregator.store import SqliteStore
from fedgov.checkpoints import CheckpointKey
from fedgov.errors import ConfigError


def test_a_sqlite_store_holds_one_aggregator(tmp_path: Path) -> None:
    db = tmp_path / "agg.db"
    with hold_sqlite(db):
        with pytest.raises(ConfigError) as info:
            with hold_sqlite(db):
                pass
        message = str(info.value)
        assert "already served by another aggregator (pid " in message
        assert "several replicas on PostgreSQL" in message
    with hold_sqlite(db):  # released when the first one stops
        pass


def test_a_second_serve_on_one_sqlite_file_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "agg.db"
    with hold_sqlite(db):  # as a running `fedgov aggregator serve` holds it
        p = run_fedgov("aggregator", "serve", "--insecure", "--db", str(db), "--listen", ":0")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "a SQLite store holds one aggregator" in p.stderr


def test_a_postgres_replica_needs_its_own_audit_log() -> None:
    url = "postgresql://fedgov@127.0.0.1:1/agg"
    p = run_fedgov("aggregator", "serve", "--insecure", "--db", url, "--listen", "127.0.0.1:0")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "give --audit PATH, this replica's own audit log" in p.stderr


def test_a_checkpoint_key_signs_one_replicas_chain(tmp_path: Path) -> None:
    key = CheckpointKey.load_or_create(tmp_path / "a.key")
    store = SqliteStore(tmp_path / "agg.db")

    def start_stop(replica: str, signing: CheckpointKey) -> None:
        running = create_server(
            "127.0.0.1:0", store, checkpoint_key=signing, replica=ReplicaSettings(replica)
        )
        running.stop(grace=0)

    try:
        start_stop("A", key)
        with pytest.raises(ConfigError) as info:
            start_stop("B", key)
        message = str(info.value)
        assert f"checkpoint key {key.key_id} signs the audit chain of replica 'A'" in message
        start_stop("A", key)  # a restart of A
        start_stop("B", CheckpointKey.load_or_create(tmp_path / "b.key"))
    finally:
        store.close()


def test_the_command_poll_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        ReplicaSettings("A", command_poll_s=0)
