"""What the store's speed-ups must not change, on every backend.

* ``latest_reports``: a pointer per (silo, model, version) kept by add_report
  stands in for "the newest report of the group"; it must agree with a scan
  under out-of-order windows, ties, duplicates and concurrent writers.
* Payloads are serialized ``fedgov.v1.Report`` bytes; rows written as JSON by
  earlier releases still read, and opening such a database upgrades it.
* SQLite: concurrent add_report calls are committed together (group commit);
  every caller still returns only after its commit, a failing report fails
  alone, and reads do not queue behind a write.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.reports import psi_half, report_ending
from support.stores import LEGACY_REPORT_COLUMNS, legacy_row, register_silos

import aggregator.store._sqlite as sqlite_backend
from aggregator.store import SqliteStore, Store, create_store
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats
from fedgov.wire import report_from_proto, report_to_bytes, report_to_proto


def _report(
    spec: MonitoringSpec, stats: WindowStats, silo: str, rid: str, end_ms: int, version: str = ""
) -> Report:
    return report_ending(spec, stats, rid, silo, end_ms, version, metrics=psi_half())


_register = register_silos


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """An empty SQLite store, closed after the test (for the SQLite-only tests)."""
    s = SqliteStore(tmp_path / "agg.db")
    yield s
    s.close()


def _latest_ids(store: Store) -> dict[tuple[str, str], str]:
    return {(r.silo_id, r.model_version): r.report_id for r in store.latest_reports()}


def test_latest_pointer_keeps_the_newest_window(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    _register(store, credit_spec, "EU-DE")
    v = credit_spec.model_version
    store.add_report(_report(credit_spec, stats, "EU-DE", "new", 2000))
    store.add_report(_report(credit_spec, stats, "EU-DE", "late-old", 1000))  # arrives later
    assert _latest_ids(store) == {("EU-DE", v): "new"}
    # An equally new window received later wins, as the scan it replaces ordered it.
    store.add_report(_report(credit_spec, stats, "EU-DE", "tie", 2000))
    assert _latest_ids(store) == {("EU-DE", v): "tie"}
    assert store.add_report(_report(credit_spec, stats, "EU-DE", "late-old", 1000)) is False
    assert _latest_ids(store) == {("EU-DE", v): "tie"}
    # Each version has its own newest report.
    store.add_report(_report(credit_spec, stats, "EU-DE", "v2", 500, version="2.0.0"))
    assert _latest_ids(store) == {("EU-DE", v): "tie", ("EU-DE", "2.0.0"): "v2"}
    latest = store.reports_for_model(credit_spec.model_id, v, latest_only=True)
    assert [r.report_id for r in latest] == ["tie"]
    # since_ms filters the newest report; it never falls back to an older one.
    got = store.reports_for_model(credit_spec.model_id, None, since_ms=1500, latest_only=True)
    assert [r.report_id for r in got] == ["tie"]
    assert store.reports_for_model(credit_spec.model_id, v, since_ms=2001, latest_only=True) == []


def test_latest_pointer_under_concurrent_writers(
    store_url: str, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    silos = ["EU-DE", "EU-FR", "US-NY"]
    rng = random.Random(5)
    ends = rng.sample(range(1, 10_000), 60)  # distinct windows, shuffled arrival
    reports = [_report(credit_spec, stats, silos[i % 3], f"r{i}", e) for i, e in enumerate(ends)]
    stores = [create_store(store_url) for _ in range(3)]  # as several aggregators would
    try:
        _register(stores[0], credit_spec, *silos)
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def run(k: int) -> None:
            try:
                barrier.wait(timeout=30)
                for r in reports[k::6]:
                    stores[k % 3].add_report(r)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        expected = {
            (s, credit_spec.model_version): max(
                (r for r in reports if r.silo_id == s), key=lambda r: r.window_end_ms
            ).report_id
            for s in silos
        }
        assert _latest_ids(stores[0]) == expected
        assert stores[0].count_reports() == len(reports)
        assert len(stores[0].drift_above(0.2)) == len(reports)
    finally:
        for s in stores:
            s.close()


def test_history_is_ordered_by_silo_then_window(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    _register(store, credit_spec, "EU-DE", "EU-FR")
    for rid, silo, end in [
        ("c", "EU-FR", 30),
        ("a", "EU-DE", 20),
        ("b", "EU-DE", 10),
        ("d", "EU-FR", 5),
    ]:
        store.add_report(_report(credit_spec, stats, silo, rid, end))
    got = store.reports_for_model(credit_spec.model_id, None, latest_only=False)
    assert [r.report_id for r in got] == ["b", "a", "d", "c"]
    recent = store.reports_for_model(credit_spec.model_id, None, since_ms=10, latest_only=False)
    assert [r.report_id for r in recent] == ["b", "a", "c"]


def test_payload_round_trip(store: Store, credit_spec: MonitoringSpec, stats: WindowStats) -> None:
    _register(store, credit_spec, "EU-DE")
    built = _report(credit_spec, stats, "EU-DE", "built", 1000)
    received = report_from_proto(report_to_proto(_report(credit_spec, stats, "EU-DE", "rx", 2000)))
    for r in (built, received):
        assert store.add_report(r) is True
        back = store.get_report(r.report_id)
        assert back == r
        assert back is not None and report_to_bytes(back) == report_to_bytes(r)
    (latest,) = store.latest_reports()
    assert latest == received


def test_drift_rows_follow_the_metrics(
    store: Store, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    _register(store, credit_spec, "EU-DE")
    bare = dataclasses.replace(_report(credit_spec, stats, "EU-DE", "bare", 10), metrics={})
    features = {"age": {"psi": 0.3}, "income": {"psi": 0.1, "psi_pvalue": 0.5}, "x": {}}
    mixed = dataclasses.replace(
        _report(credit_spec, stats, "EU-DE", "mixed", 20), metrics={"drift": {"features": features}}
    )
    assert store.add_report(bare) is True and store.add_report(mixed) is True
    rows = sorted((d.report_id, d.feature, d.psi, d.psi_pvalue) for d in store.drift_above(0.0))
    assert rows == [("mixed", "age", 0.3, None), ("mixed", "income", 0.1, 0.5)]
    assert store.get_silo("EU-DE").last_seen_ms > 0  # type: ignore[union-attr]


# The reports table as releases before protobuf payloads made it (JSON in payload).
_OLD_SQLITE = """
CREATE TABLE reports (
    report_id TEXT PRIMARY KEY, silo_id TEXT NOT NULL, jurisdiction TEXT NOT NULL,
    model_id TEXT NOT NULL, model_version TEXT NOT NULL, spec_digest TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL, window_end_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL, allow INTEGER NOT NULL, payload TEXT NOT NULL
)"""
_OLD_POSTGRES = """
CREATE TABLE reports (
    report_id TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY,
    silo_id TEXT NOT NULL, jurisdiction TEXT NOT NULL, model_id TEXT NOT NULL,
    model_version TEXT NOT NULL, spec_digest TEXT NOT NULL, window_start_ms BIGINT NOT NULL,
    window_end_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, allow BOOLEAN NOT NULL,
    payload TEXT NOT NULL
)"""


def test_json_rows_of_an_older_database_still_read(
    store_url: str, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    old = [_report(credit_spec, stats, "EU-DE", f"old{i}", end) for i, end in enumerate((300, 100))]
    rows = [legacy_row(r, True) for r in old]
    if "://" in store_url:
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(_OLD_POSTGRES)
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO reports ({LEGACY_REPORT_COLUMNS}) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    rows,
                )
    else:
        with sqlite3.connect(store_url) as db:
            db.execute(_OLD_SQLITE)
            db.executemany("INSERT INTO reports VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.close()
    s = create_store(store_url)  # upgrades: payload_pb column, latest pointers backfilled
    try:
        assert s.get_report("old0") == old[0]
        assert _latest_ids(s) == {("EU-DE", credit_spec.model_version): "old0"}
        _register(s, credit_spec, "EU-DE")
        assert s.add_report(old[1]) is False  # still idempotent across formats
        new = _report(credit_spec, stats, "EU-DE", "new", 400)
        assert s.add_report(new) is True
        assert _latest_ids(s) == {("EU-DE", credit_spec.model_version): "new"}
        got = s.reports_for_model(credit_spec.model_id, None, latest_only=False)
        assert got == [old[1], old[0], new]
    finally:
        s.close()
    again = create_store(store_url)  # opening an upgraded database changes nothing
    try:
        assert again.count_reports() == 3 and len(again.latest_reports()) == 1
    finally:
        again.close()


# -- SQLite group commit and readers --------------------------------------------------
def _queued_together(store: SqliteStore, reports: list[Report]) -> list[bool | BaseException]:
    """add_report in one thread per report, all queued before any is written."""
    results: list[bool | BaseException] = [False] * len(reports)

    def run(i: int) -> None:
        try:
            results[i] = store.add_report(reports[i])
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(reports))]
    with store._lock:  # a write in progress: every caller queues behind it
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(store._queue) < len(reports) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(store._queue) == len(reports)
    for t in threads:
        t.join(timeout=30)
    return results


def test_sqlite_writes_queued_reports_in_one_transaction(
    sqlite_store: SqliteStore,
    credit_spec: MonitoringSpec,
    stats: WindowStats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = sqlite_backend.insert_reports

    def counting(db: sqlite3.Connection, batch: list, t: int) -> None:  # type: ignore[type-arg]
        calls.append(len(batch))
        real(db, batch, t)

    monkeypatch.setattr(sqlite_backend, "insert_reports", counting)
    _register(sqlite_store, credit_spec, "EU-DE", "EU-FR")
    sqlite_store.add_report(_report(credit_spec, stats, "EU-DE", "stored", 1))
    calls.clear()
    reports = [
        _report(credit_spec, stats, "EU-DE" if i % 2 else "EU-FR", f"r{i % 5}", 10 + i)
        for i in range(12)
    ] + [_report(credit_spec, stats, "EU-DE", "stored", 1)]
    results = _queued_together(sqlite_store, reports)
    assert calls == [13]  # one transaction for all of them
    added = [r.report_id for r, ok in zip(reports, results, strict=True) if ok is True]
    # The first of equal ids wins; the one stored before is a duplicate.
    assert sorted(added) == [f"r{i}" for i in range(5)]
    assert results.count(True) == 5 and results.count(False) == 8
    assert sqlite_store.count_reports() == 6
    assert len(sqlite_store.drift_above(0.2)) == 6
    # Only first occurrences were stored: r3 (window 13) is EU-DE's newest, r4 (14) EU-FR's.
    assert _latest_ids(sqlite_store) == {
        ("EU-DE", credit_spec.model_version): "r3",
        ("EU-FR", credit_spec.model_version): "r4",
    }


def test_sqlite_a_failing_report_fails_alone(
    sqlite_store: SqliteStore, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    _register(sqlite_store, credit_spec, "EU-DE")
    with sqlite3.connect(sqlite_store.path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON reports WHEN NEW.report_id LIKE 'bad%' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    db.close()
    reports = [
        _report(credit_spec, stats, "EU-DE", rid, 10 + i)
        for i, rid in enumerate(["ok1", "bad1", "ok2", "bad2", "ok3"])
    ]
    outcomes = _queued_together(sqlite_store, reports)
    results = dict(zip([r.report_id for r in reports], outcomes, strict=True))
    assert [k for k, v in results.items() if v is True] == ["ok1", "ok2", "ok3"]
    assert all(isinstance(results[k], sqlite3.IntegrityError) for k in ("bad1", "bad2"))
    assert sqlite_store.count_reports() == 3
    assert sqlite_store.get_report("bad1") is None
    assert _latest_ids(sqlite_store) == {("EU-DE", credit_spec.model_version): "ok3"}


def test_sqlite_reads_do_not_wait_for_a_write(
    sqlite_store: SqliteStore, credit_spec: MonitoringSpec, stats: WindowStats
) -> None:
    _register(sqlite_store, credit_spec, "EU-DE")
    sqlite_store.add_report(_report(credit_spec, stats, "EU-DE", "r1", 10))
    got: list[object] = []
    with sqlite_store._lock:  # a writer holds the lock, e.g. through its fsync
        t = threading.Thread(
            target=lambda: got.extend(
                [
                    sqlite_store.get_silo("EU-DE"),
                    sqlite_store.get_report("r1"),
                    sqlite_store.latest_reports(),
                ]
            )
        )
        t.start()
        t.join(timeout=10)
        assert not t.is_alive(), "a read waited for the write lock"
    assert got[0] is not None and got[1] is not None and len(got[2]) == 1  # type: ignore[arg-type]
