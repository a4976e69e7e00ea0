"""One schema and one set of statements for both dialects: where they used to differ.

The store's schema is written once (``_schema``) and each dialect's DDL made
from it; the statements are shared with ``?`` placeholders. These tests pin
what the two backends once did differently, on every backend.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path

from support.reports import report_of
from support.stores import register_silos

from aggregator.store import ModelVersionRecord, SqliteStore, Store
from aggregator.store._dialect import POSTGRESQL, SQLITE, to_format
from aggregator.store._schema import TABLES, ddl
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats


def _report(spec: MonitoringSpec, stats: WindowStats, rid: str, metrics: dict) -> Report:  # type: ignore[type-arg]
    return report_of(spec, stats, rid, window_end_ms=10, metrics=metrics)


def _register(store: Store, spec: MonitoringSpec, copies: int = 1) -> None:
    register_silos(store, spec, "EU-DE", copies=copies)


def test_both_dialects_make_the_same_tables_and_indexes() -> None:
    def shape(statements: list[str]) -> list[tuple[str, str]]:
        return [
            (m.group(1), m.group(2))
            for s in statements
            for m in [re.match(r"CREATE (TABLE|INDEX) IF NOT EXISTS (\w+)", s)]
            if m
        ]

    sqlite_ddl, pg_ddl = ddl(SQLITE), ddl(POSTGRESQL)
    assert shape(sqlite_ddl) == shape(pg_ddl)
    assert len(shape(sqlite_ddl)) == len(sqlite_ddl)
    assert ("INDEX", "commands_by_job") in shape(sqlite_ddl)
    # The one column of one dialect only: insertion order, which SQLite numbers itself.
    only = {(t.name, c.name, c.only) for t in TABLES for c in t.columns if c.only}
    assert only == {("reports", "seq", "postgresql"), ("latest_reports", "seq", "postgresql")}
    db = sqlite3.connect(":memory:")
    for statement in sqlite_ddl:
        db.execute(statement)


def test_placeholders_convert_for_psycopg() -> None:
    assert to_format("SELECT a FROM t WHERE b=? AND c LIKE '5%'") == (
        "SELECT a FROM t WHERE b=%s AND c LIKE '5%%'"
    )


def test_drift_p_values_are_floats(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    _register(store, credit_spec)
    features = {"age": {"psi": 1, "psi_pvalue": 0}, "income": {"psi": 0.5, "psi_pvalue": None}}
    store.add_report(_report(credit_spec, stats, "r1", {"drift": {"features": features}}))
    got = {d.feature: (d.psi, d.psi_pvalue) for d in store.drift_above(0.0)}
    assert got == {"age": (1.0, 0.0), "income": (0.5, None)}
    assert isinstance(got["age"][0], float) and isinstance(got["age"][1], float)


def test_a_model_listed_twice_registers_once(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, copies=2)
    silo = store.get_silo("EU-DE")
    assert silo is not None and len(silo.models) == 1


def test_commands_of_a_job_in_silo_then_creation_order(
    store: Store, credit_spec: MonitoringSpec
) -> None:
    job, _ = store.open_job("m", "1", "drift", ["b", "a"])
    later = store.add_commands(job.job_id, "evaluate", ["b", "a", "b"], "eval", "{}")
    assert [c.silo_id for c in later] == ["a", "b"]
    got = store.get_job(job.job_id)
    assert got is not None
    assert sorted((c.silo_id, c.kind) for c in got.commands) == [
        ("a", "evaluate"),
        ("a", "retrain"),
        ("b", "evaluate"),
        ("b", "retrain"),
    ]
    key = [(c.silo_id, c.created_ms, c.command_id) for c in got.commands]
    assert key == sorted(key)  # created_ms counts milliseconds: the id breaks ties
    assert [dataclasses.astuple(c) for c in got.commands if c.kind == "evaluate"] == [
        dataclasses.astuple(c) for c in later
    ]


def test_model_versions_read_in_two_statements(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "agg.db")
    try:
        for i in range(5):
            store.add_model_version(ModelVersionRecord("m", f"{i}", "candidate", i, "d"))
            store.set_alias("m", f"a{i}", f"{i}")
        statements: list[str] = []
        store._reader().set_trace_callback(statements.append)
        versions = store.list_model_versions("m")
        assert [v.aliases for v in versions] == [(f"a{i}",) for i in range(5)]
        assert len([s for s in statements if s.startswith("SELECT")]) == 2
    finally:
        store.close()
