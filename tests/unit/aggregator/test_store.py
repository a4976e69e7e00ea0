"""One suite for every store backend: SQLite and PostgreSQL.

The PostgreSQL runs need a server (see tests/unit/aggregator/conftest.py); each
test gets a fresh schema.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from support.reports import psi_half, report_ending
from support.specs import stats_of
from support.stores import register_silos

from aggregator.store import CentralDecisionRecord, PostgresStore, SqliteStore, Store, create_store
from fedgov.errors import ConfigError
from fedgov.policy import Decision
from fedgov.report import Report, ReportLink
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data

T = TypeVar("T")


def _in_threads(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(0..n-1) in n threads released together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list[T | None] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results  # type: ignore[return-value]


def _report(spec: MonitoringSpec, silo: str, rid: str, end_ms: int, actions=()) -> Report:
    return report_ending(
        spec,
        stats_of(spec, credit_data(200, seed=3)),
        rid,
        silo,
        end_ms,
        metrics=psi_half(),
        decision=Decision(
            allow=not actions, deny=("x",) if actions else (), actions=tuple(actions)
        ),
    )


_register = register_silos


def test_add_report_is_idempotent(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE")
    r = _report(credit_spec, "EU-DE", "r1", 1000)
    assert store.add_report(r) is True
    assert store.add_report(r) is False
    assert store.count_reports() == 1
    assert store.get_report("r1") == r
    assert len(store.drift_above(0.2)) == 1  # drift rows not doubled either


def test_latest_reports_and_time_filters(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE", "EU-FR")
    store.add_report(_report(credit_spec, "EU-DE", "old", 1000))
    store.add_report(_report(credit_spec, "EU-DE", "new", 2000))
    store.add_report(_report(credit_spec, "EU-FR", "fr", 1500))
    latest = store.reports_for_model(credit_spec.model_id, None, latest_only=True)
    assert sorted(r.report_id for r in latest) == ["fr", "new"]
    since = store.reports_for_model(credit_spec.model_id, None, since_ms=1200, latest_only=False)
    assert sorted(r.report_id for r in since) == ["fr", "new"]
    assert {r.report_id for r in store.latest_reports()} == {"fr", "new"}
    assert [d.report_id for d in store.drift_above(0.2, since_ms=1600)] == ["new"]
    assert store.drift_above(0.6) == []


def test_one_open_job_per_model_and_command_acks(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE", "EU-FR")
    job, created = store.open_job("credit-risk", "1.0.0", "drift", ["EU-DE", "EU-FR"])
    again, created2 = store.open_job("credit-risk", "1.0.0", "bias", ["EU-DE", "EU-FR"])
    assert created and not created2 and again.job_id == job.job_id
    assert job.state == "dispatched" and len(job.commands) == 2
    (cmd,) = store.pending_commands("EU-DE")
    assert store.silos_with_pending_commands() == {"EU-DE", "EU-FR"}
    assert store.ack_command(cmd.command_id, "EU-DE", "accepted", "ok") is True
    assert store.silos_with_pending_commands() == {"EU-FR"}
    assert store.ack_command(cmd.command_id, "EU-DE", "accepted", "ok") is False
    assert (
        store.ack_command(store.pending_commands("EU-FR")[0].command_id, "EU-DE", "accepted", "")
        is False
    )
    assert store.pending_commands("EU-DE") == []
    (listed,) = store.list_jobs()
    assert {c.silo_id: c.status for c in listed.commands} == {
        "EU-DE": "accepted",
        "EU-FR": "pending",
    }


def test_reopen_survives_restart(store_url: str, credit_spec: MonitoringSpec) -> None:
    s = create_store(store_url)
    _register(s, credit_spec, "EU-DE")
    r = _report(credit_spec, "EU-DE", "r1", 1000)
    s.add_report(r)
    job, _ = s.open_job("credit-risk", "1.0.0", "drift", ["EU-DE"])
    s.close()
    # A new store object on the same database: the schema exists, the data is there.
    s2 = create_store(store_url if "://" in store_url else f"sqlite:///{store_url}")
    try:
        assert s2.count_reports() == 1
        assert s2.get_report("r1") == r
        assert s2.get_silo("EU-DE") is not None
        assert s2.get_spec_json(credit_spec.digest) == json.dumps(credit_spec.to_dict())
        assert [j.job_id for j in s2.list_jobs()] == [job.job_id]
        assert s2.add_report(r) is False  # idempotence survives the restart too
    finally:
        s2.close()


def test_register_silo_replaces_its_models(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-FR", "EU-DE")
    store.register_silo("EU-DE", "EU", "sha256:def", [("other", "2.0", "sha256:o", "{}")])
    de = store.get_silo("EU-DE")
    assert de is not None
    assert (de.jurisdiction, de.policy_bundle_digest) == ("EU", "sha256:def")
    assert de.models == (("other", "2.0", "sha256:o"),)
    assert [s.silo_id for s in store.list_silos()] == ["EU-DE", "EU-FR"]
    fr = store.list_silos()[1]
    assert fr.models == ((credit_spec.model_id, credit_spec.model_version, credit_spec.digest),)
    assert store.get_silo("nowhere") is None
    assert store.get_spec_json("sha256:o") == "{}"
    assert store.get_spec_json("sha256:missing") is None


def test_filters_by_model_and_version(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE")
    store.add_report(_report(credit_spec, "EU-DE", "a", 1000))
    assert store.reports_for_model(credit_spec.model_id, "9.9.9", latest_only=False) == []
    assert store.reports_for_model("other", None, latest_only=True) == []
    got = store.reports_for_model(credit_spec.model_id, credit_spec.model_version, latest_only=True)
    assert [r.report_id for r in got] == ["a"]
    assert [d.feature for d in store.drift_above(0.2, model_id=credit_spec.model_id)] == ["income"]
    assert store.drift_above(0.2, model_id="other") == []
    (d,) = store.drift_above(0.2)
    assert (d.psi, d.psi_pvalue, d.window_end_ms, d.silo_id) == (0.5, 0.001, 1000, "EU-DE")


def test_latest_central_decision_per_subject(store: Store) -> None:
    def rec(group: str, t: int, allow: bool) -> CentralDecisionRecord:
        decision = Decision(allow=allow, deny=() if allow else ("gap",))
        return CentralDecisionRecord("m", "1", group, t, ("EU-DE", "EU-FR"), 10 * t, decision)

    store.add_central_decision(rec("EU-*", 1, True))
    store.add_central_decision(rec("EU-*", 2, False))
    store.add_central_decision(rec("US-*", 1, True))
    latest = store.latest_central_decisions()
    assert latest == [rec("EU-*", 2, False), rec("US-*", 1, True)]


def test_concurrent_add_report_stores_one(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE")
    r = _report(credit_spec, "EU-DE", "dup", 1000)
    added = _in_threads(8, lambda _: store.add_report(r))
    assert sorted(added) == [False] * 7 + [True]
    assert store.count_reports() == 1
    assert len(store.drift_above(0.2)) == 1


def test_concurrent_add_report_across_store_objects(
    store_url: str, credit_spec: MonitoringSpec
) -> None:
    """Eight aggregator processes on one database, as far as the database can tell."""
    stores = [create_store(store_url) for _ in range(8)]
    try:
        _register(stores[0], credit_spec, "EU-DE")
        r = _report(credit_spec, "EU-DE", "dup", 1000)
        added = _in_threads(8, lambda i: stores[i].add_report(r))
        assert sorted(added) == [False] * 7 + [True]
        assert stores[0].count_reports() == 1
    finally:
        for s in stores:
            s.close()


def test_concurrent_open_job_creates_one(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE", "EU-FR")
    opened = _in_threads(
        8, lambda i: store.open_job("credit-risk", "1.0.0", f"drift {i}", ["EU-DE", "EU-FR"])
    )
    assert sorted(created for _, created in opened) == [False] * 7 + [True]
    assert len({job.job_id for job, _ in opened}) == 1
    (job,) = store.list_jobs("credit-risk")
    assert [c.silo_id for c in job.commands] == ["EU-DE", "EU-FR"]
    assert len(store.pending_commands("EU-DE")) == 1


def test_concurrent_open_job_across_store_objects(
    store_url: str, credit_spec: MonitoringSpec
) -> None:
    stores = [create_store(store_url) for _ in range(8)]
    try:
        opened = _in_threads(
            8, lambda i: stores[i].open_job("credit-risk", "1.0.0", "drift", ["EU-DE"])
        )
        assert sorted(created for _, created in opened) == [False] * 7 + [True]
        assert len(stores[0].list_jobs()) == 1
        assert len(stores[0].pending_commands("EU-DE")) == 1
    finally:
        for s in stores:
            s.close()


def test_create_store_picks_backend(store_url: str) -> None:
    s = create_store(store_url)
    try:
        assert isinstance(s, PostgresStore if store_url.startswith("postgresql") else SqliteStore)
    finally:
        s.close()


def test_unknown_store_url() -> None:
    with pytest.raises(ConfigError, match="scheme") as info:
        create_store("mysql://admin:s3cret@db.example/x")
    assert "s3cret" not in str(info.value)


def test_postgres_unreachable_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        create_store("postgresql://fedgov:s3cret@127.0.0.1:1/agg?connect_timeout=2")
    message = str(info.value)
    assert "127.0.0.1:1/agg" in message and "server is running" in message
    assert "s3cret" not in message


def test_postgres_missing_database_is_a_config_error(postgres_server: object) -> None:
    base = postgres_server.require().split("?")[0].rsplit("/", 1)[0]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="fedgov_no_such_db.*createdb"):
        create_store(f"{base}/fedgov_no_such_db")


def test_postgres_schema_creation_is_concurrency_safe(postgres_url: str) -> None:
    stores = _in_threads(4, lambda _: create_store(postgres_url))
    for s in stores:
        s.close()


def test_postgres_url_is_read_before_env_is_cleared(postgres_server: object) -> None:
    # The root conftest's autouse fixture has removed the variable for this test...
    assert "FEDGOV_TEST_POSTGRES_URL" not in os.environ
    # ...yet the session fixture, set up first, still has it (or skips/fails as it should).
    url = postgres_server.require()  # type: ignore[attr-defined]
    assert url.startswith(("postgresql://", "postgres://"))


def test_job_state_machine(store: Store, credit_spec: MonitoringSpec) -> None:
    from aggregator.store import InvalidTransition

    _register(store, credit_spec, "EU-DE", "EU-FR")
    job, _ = store.open_job("credit-risk", "1.0.0", "bias", ["EU-DE", "EU-FR"])
    assert job.state == "dispatched"
    with pytest.raises(InvalidTransition, match="cannot go from 'dispatched' to 'promoted'"):
        store.transition_job(job.job_id, "promoted")
    job = store.transition_job(job.job_id, "training", detail="flower run 7")
    assert (job.state, job.detail) == ("training", "flower run 7")
    job = store.transition_job(job.job_id, "evaluating", candidate_version="1.0.1")
    assert job.candidate_version == "1.0.1"
    cmds = store.add_commands(job.job_id, "evaluate", ["EU-DE", "EU-FR"], "gate", '{"w": [1]}')
    assert {c.kind for c in cmds} == {"evaluate"} and cmds[0].payload == '{"w": [1]}'
    assert {c.kind for c in store.pending_commands("EU-DE")} == {"retrain", "evaluate"}
    job = store.transition_job(job.job_id, "rejected", detail="gate failed")
    with pytest.raises(InvalidTransition, match="final state"):
        store.transition_job(job.job_id, "failed")
    # A final job no longer absorbs triggers: a new trigger opens a new job.
    again, created = store.open_job("credit-risk", "1.0.0", "bias", ["EU-DE"])
    assert created and again.job_id != job.job_id
    assert store.get_job(job.job_id).state == "rejected"  # type: ignore[union-attr]


def test_model_registry_aliases_and_history(store: Store) -> None:
    from aggregator.store import ModelVersionRecord

    for i, v in enumerate(("1.0.0", "1.0.1", "1.0.2")):
        store.add_model_version(
            ModelVersionRecord(
                "credit-risk",
                v,
                "candidate",
                1000 + i,
                "d" * 64,
                {"flower_run": i},
                bytes([i]) * 10,
            )
        )
    assert store.set_alias("credit-risk", "production", "1.0.0") is None
    assert store.set_alias("credit-risk", "production", "1.0.1") == "1.0.0"
    store.set_model_status("credit-risk", "1.0.1", "promoted")
    assert store.resolve_alias("credit-risk", "production") == "1.0.1"
    assert [v for v, _ in store.alias_history("credit-risk", "production")] == ["1.0.1", "1.0.0"]
    got = store.get_model_version("credit-risk", "1.0.1")
    assert got is not None and got.status == "promoted" and got.aliases == ("production",)
    assert got.artifact == bytes([1]) * 10 and got.lineage == {"flower_run": 1}
    assert [m.version for m in store.list_model_versions("credit-risk")] == [
        "1.0.0",
        "1.0.1",
        "1.0.2",
    ]
    with pytest.raises(KeyError):
        store.set_model_status("credit-risk", "9.9.9", "promoted")


def test_latest_report_of_one_silo(store: Store, credit_spec: MonitoringSpec) -> None:
    _register(store, credit_spec, "EU-DE", "EU-FR")
    assert store.latest_report("EU-DE", "credit-risk", "1.0.0") is None
    store.add_report(_report(credit_spec, "EU-DE", "a", 2000))
    store.add_report(_report(credit_spec, "EU-DE", "b", 1000))  # an older window, later
    store.add_report(_report(credit_spec, "EU-FR", "c", 3000))
    got = store.latest_report("EU-DE", "credit-risk", "1.0.0")
    assert got is not None and got.report_id == "a"
    link = store.latest_link("EU-DE", "credit-risk", "1.0.0")
    assert link is not None and link == ReportLink.of(got)
    assert store.latest_link("EU-XX", "credit-risk", "1.0.0") is None


def test_silo_approvals_are_upserted_and_move_a_registered_silo(store: Store) -> None:
    assert store.approved_jurisdiction("site-1") is None
    first = store.approve_silo("site-1", "EU-FR", approved_by="op", reason="contract")
    assert (first.jurisdiction, first.previous) == ("EU-FR", None)
    assert store.approved_jurisdiction("site-1") == "EU-FR"
    store.register_silo("site-1", "EU-FR", "sha256:x", [])
    second = store.approve_silo("site-1", "EU-IE", approved_by="op", reason="moved")
    assert (second.jurisdiction, second.previous) == ("EU-IE", "EU-FR")
    assert second.approved_ms >= first.approved_ms
    silo = store.get_silo("site-1")
    assert silo is not None and silo.jurisdiction == "EU-IE"
    assert store.approved_jurisdiction("site-1") == "EU-IE"
    assert store.get_silo("site-2") is None  # an approval alone registers nothing
    store.approve_silo("site-2", "US-NY", approved_by="op", reason="")
    assert store.get_silo("site-2") is None
