"""One suite for every store backend (only SQLite until PostgreSQL lands)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.store import Store, create_store
from fedgov.errors import ConfigError
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = create_store(tmp_path / "agg.db")
    yield s
    s.close()


def _report(spec: MonitoringSpec, silo: str, rid: str, end_ms: int, actions=()) -> Report:
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, credit_data(200, seed=3)))
    return Report(
        report_id=rid,
        silo_id=silo,
        jurisdiction=silo,
        model_id=spec.model_id,
        model_version=spec.model_version,
        window_start_ms=end_ms - 10,
        window_end_ms=end_ms,
        spec_digest=spec.digest,
        stats=stats,
        metrics={"drift": {"features": {"income": {"psi": 0.5, "psi_pvalue": 0.001}}}},
        decision=Decision(allow=not actions, deny=("x",) if actions else (), actions=tuple(actions)),
    )


def _register(store: Store, spec: MonitoringSpec, *silos: str) -> None:
    for s in silos:
        store.register_silo(
            s, s, "sha256:abc",
            [(spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict()))],
        )


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
    assert store.ack_command(cmd.command_id, "EU-DE", "accepted", "ok") is True
    assert store.ack_command(cmd.command_id, "EU-DE", "accepted", "ok") is False
    assert store.ack_command(store.pending_commands("EU-FR")[0].command_id, "EU-DE", "accepted", "") is False
    assert store.pending_commands("EU-DE") == []
    (listed,) = store.list_jobs()
    assert {c.silo_id: c.status for c in listed.commands} == {"EU-DE": "accepted", "EU-FR": "pending"}


def test_reopen_survives_restart(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    s = create_store(tmp_path / "a.db")
    _register(s, credit_spec, "EU-DE")
    s.add_report(_report(credit_spec, "EU-DE", "r1", 1000))
    s.close()
    s2 = create_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert s2.count_reports() == 1
    assert s2.get_silo("EU-DE") is not None
    assert s2.get_spec_json(credit_spec.digest) is not None
    s2.close()


def test_unknown_store_url() -> None:
    with pytest.raises(ConfigError, match="scheme"):
        create_store("mysql://x")
