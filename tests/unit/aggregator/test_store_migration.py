"""Databases written by an earlier store open, upgrade and read, on every backend.

``data/store-v1.db`` (SQLite) and ``data/store-v1.postgres.sql`` (a pg_dump of
PostgreSQL) were written by the store at commit cbe29f8, before the schema was
written once for both dialects (``data/make_store_v1.py``). Opening them must
bring them to today's layout (the same tables, columns and indexes as a new
database: SQLite gains ``commands_by_job``, both gain ``silo_approvals``),
keep every row readable, and
change nothing when opened again.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.store import Store, create_store
from fedgov.policy import Decision

DATA = Path(__file__).parent / "data"
MODEL = "credit-risk"
# added after v1
NEW_TABLES = {
    "silo_approvals",
    "audit_heads",
    "audit_checkpoints",
    "secagg_rounds",
    "secagg_messages",
    "secagg_releases",
    "replica_keys",
}
NEW_COLUMNS = {("central_decisions", "source")}  # added in place, with a default


@pytest.fixture(params=["sqlite", "postgres"])
def v1_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_server: object) -> str:
    """A database as the v1 store left it (``postgres_server``: see conftest's store_url)."""
    if request.param == "sqlite":
        path = tmp_path / "agg.db"
        shutil.copyfile(DATA / "store-v1.db", path)
        return str(path)
    import psycopg

    url = str(request.getfixturevalue("postgres_url"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((DATA / "store-v1.postgres.sql").read_text())  # type: ignore[arg-type]
    return url


@pytest.fixture
def fresh_url(v1_url: str, tmp_path: Path, postgres_server: object) -> Iterator[str]:
    """An empty database of the same backend (for PostgreSQL, a second schema)."""
    if "://" not in v1_url:
        yield str(tmp_path / "fresh.db")
        return
    import psycopg

    base = postgres_server.require()  # type: ignore[attr-defined]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _layout(url: str) -> tuple[dict[str, list[tuple[str, str, bool]]], set[tuple[str, str]]]:
    """(table -> [(column, type, not null)], {(table, index)}) of a database."""
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    if "://" in url:
        import psycopg

        with psycopg.connect(url) as conn:
            for t, c, typ, nullable in conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "ORDER BY table_name, ordinal_position"
            ):
                tables.setdefault(t, []).append((c, typ, nullable == "NO"))
            indexes = {
                (str(t), str(i))
                for t, i in conn.execute(
                    "SELECT tablename, indexname FROM pg_indexes "
                    "WHERE schemaname = current_schema()"
                )
            }
        return tables, indexes
    db = sqlite3.connect(url)
    try:
        for (t,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            tables[t] = [(r[1], r[2], bool(r[3])) for r in db.execute(f"PRAGMA table_info({t})")]
        indexes = {
            (r[0], r[1])
            for r in db.execute("SELECT tbl_name, name FROM sqlite_master WHERE type='index'")
        }
    finally:
        db.close()
    return tables, indexes


def _check_v1_rows(s: Store) -> None:
    silos = s.list_silos()
    assert [x.silo_id for x in silos] == ["EU-DE", "US-CA"]
    assert [m[:2] for m in silos[0].models] == [(MODEL, "1.0.0"), (MODEL, "1.1.0")]
    assert silos[0].policy_bundle_digest == "sha256:bundle-EU-DE"
    assert s.get_spec_json(silos[0].models[0][2]) is not None
    assert s.count_reports() == 4
    de2 = s.get_report("r-de-2")
    assert de2 is not None and de2.window_end_ms == 2000
    assert de2.decision == Decision(allow=False, deny=("drift",), actions=("retrain",))
    assert set(s.get_reports(["r-de-1", "r-ca-1", "nope"])) == {"r-de-1", "r-ca-1"}
    assert {(r.silo_id, r.model_version): r.report_id for r in s.latest_reports()} == {
        ("EU-DE", "1.0.0"): "r-de-2",
        ("US-CA", "1.0.0"): "r-ca-1",
        ("EU-DE", "1.1.0"): "r-de-3",
    }
    link = s.latest_link("EU-DE", MODEL, "1.0.0")
    assert link is not None and link.report_id == "r-de-2"
    drift = s.drift_above(0.2)
    assert sorted(d.report_id for d in drift) == ["r-ca-1", "r-de-1", "r-de-2", "r-de-3"]
    assert {(d.feature, d.psi, d.psi_pvalue) for d in drift} == {("income", 0.31, 0.002)}
    history = s.metric_history(MODEL, ("drift", "features", "age", "psi"))
    assert [(p.report_id, p.value) for p in history] == [
        ("r-de-1", 0.05),
        ("r-ca-1", 0.05),
        ("r-de-2", 0.05),
        ("r-de-3", 0.05),
    ]
    (job,) = s.list_jobs(MODEL)
    assert (job.state, job.candidate_version, job.reason) == (
        "evaluating",
        "1.1.0",
        "drift on income",
    )
    assert [(c.silo_id, c.kind, c.status) for c in job.commands] == [
        ("EU-DE", "retrain", "accepted"),
        ("EU-DE", "evaluate", "pending"),
        ("US-CA", "retrain", "pending"),
    ]
    assert [c.payload for c in s.pending_commands("EU-DE")] == ['{"weights": "AAE="}']
    versions = s.list_model_versions(MODEL)
    assert [(v.version, v.status, v.aliases) for v in versions] == [
        ("1.0.0", "promoted", ("challenger",)),
        ("1.1.0", "candidate", ("champion",)),
    ]
    assert versions[1].artifact == b"\x00\x01w" and versions[1].lineage == {"parent": "1.0.0"}
    assert s.resolve_alias(MODEL, "champion") == "1.1.0"
    assert [v for v, _ in s.alias_history(MODEL, "champion")] == ["1.1.0", "1.0.0"]
    central = s.latest_central_decisions()
    assert [(c.jurisdiction_group, c.evaluated_ms, c.decision.allow) for c in central] == [
        ("EU", 6000, False),
        ("US", 5500, True),
    ]


def test_v1_database_opens_upgrades_and_reads(v1_url: str, fresh_url: str) -> None:
    old_tables, old_indexes = _layout(v1_url)
    s = create_store(v1_url)
    try:
        _check_v1_rows(s)
        # It takes new writes as a new database does.
        old = s.get_report("r-de-2")
        assert old is not None
        newer = dataclasses.replace(old, report_id="r-de-4", window_end_ms=2500)
        assert s.add_report(newer) is True and s.add_report(newer) is False
        assert s.latest_report_id("EU-DE", MODEL, "1.0.0") == "r-de-4"
        job, created = s.open_job(MODEL, "1.0.0", "again", ["EU-DE"])
        assert not created and job.state == "evaluating"
        s.transition_job(job.job_id, "promoted")
        _, created = s.open_job(MODEL, "1.0.0", "again", ["EU-DE"])
        assert created
    finally:
        s.close()
    create_store(fresh_url).close()
    tables, indexes = _layout(v1_url)
    assert (tables, indexes) == _layout(fresh_url)  # the layout of a new database
    # No column was missing in v1 but those added in place; the tables added since came whole.
    kept = {
        t: [c for c in cols if (t, c[0]) not in NEW_COLUMNS]
        for t, cols in tables.items()
        if t not in NEW_TABLES
    }
    assert kept == old_tables
    assert {(t, c[0]) for t, cols in tables.items() for c in cols} >= NEW_COLUMNS
    assert set(tables) - set(old_tables) == NEW_TABLES
    added = {i for i in indexes - old_indexes if i[0] not in NEW_TABLES}
    if "://" not in v1_url:
        assert added == {("commands", "commands_by_job")}
    else:
        assert added == set()
    again = create_store(v1_url)  # opening an upgraded database changes nothing
    try:
        assert again.count_reports() == 5 and len(again.latest_reports()) == 3
        assert _layout(v1_url) == (tables, indexes)
    finally:
        again.close()


def test_v1_database_keeps_audit_anchors_after_the_upgrade(v1_url: str) -> None:
    """The anchor tables a v1 database gains take heads and checkpoints, append-only."""
    from fedgov.audit import AuditHead
    from fedgov.checkpoints import CheckpointKey

    s = create_store(v1_url)
    try:
        old = s.get_report("r-de-2")
        assert old is not None and s.audit_heads("EU-DE") == []
        head = AuditHead(4, "a" * 64)
        newer = dataclasses.replace(old, report_id="r-de-4", window_end_ms=2500, audit_head=head)
        assert s.add_report(newer) is True
        rewritten = dataclasses.replace(newer, audit_head=AuditHead(4, "b" * 64))
        assert s.add_report(rewritten) is False  # a duplicate report, but its head is kept
        heads = s.audit_heads("EU-DE")
        assert [(h.seq, h.hash[0], h.report_id) for h in heads] == [
            (4, "a", "r-de-4"),
            (4, "b", "r-de-4"),
        ]
        assert [h.hash[0] for h in s.conflicting_heads("EU-DE", 4, "a" * 64)] == ["b"]
        key = CheckpointKey.generate()
        cp = key.sign(AuditHead(9, "c" * 64), 1_000)
        assert s.add_checkpoint(cp) is None
        assert s.add_checkpoint(key.sign(AuditHead(9, "d" * 64), 2_000)) == cp  # kept first
        assert s.checkpoints() == [cp] and s.latest_checkpoint(key.key_id) == cp
    finally:
        s.close()
