"""The central gate judges merged metrics per jurisdiction group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.central import CentralGate
from aggregator.handler import AggregatorHandler, ModelRegistration
from aggregator.store import SqliteStore
from fedgov.metrics import compute_metrics
from fedgov.policy import Decision, RegoEngine, default_bundle_path
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    gate = CentralGate(RegoEngine.from_bundle(default_bundle_path()), ("EU-*", "US-*"))
    h = AggregatorHandler(SqliteStore(tmp_path / "a.db"), central=gate)
    reg = ModelRegistration(
        credit_spec.model_id, credit_spec.model_version, credit_spec.digest,
        json.dumps(credit_spec.to_dict()),
    )
    for silo in ("EU-DE", "EU-FR", "US-NY"):
        h.register(silo, silo, "sha256:x", [reg])
    return h


def _report(spec: MonitoringSpec, silo: str, seed: int, bias: float = 0.0) -> Report:
    stats = WindowStats.zero(spec).fold(
        spec, encode_columns(spec, credit_data(3000, seed=seed, bias=bias))
    )
    return Report(
        report_id=f"{silo}-{seed}", silo_id=silo, jurisdiction=silo, model_id=spec.model_id,
        model_version=spec.model_version, window_start_ms=0, window_end_ms=1000,
        spec_digest=spec.digest, stats=stats, metrics=compute_metrics(spec, stats),
        decision=Decision(allow=True),  # the silo's own gate passed
    )


def test_central_gate_catches_what_local_gates_allowed(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    handler.ingest(_report(credit_spec, "EU-DE", 1))
    handler.ingest(_report(credit_spec, "EU-FR", 2))
    handler.ingest(_report(credit_spec, "US-NY", 3, bias=0.15))
    by_group = {r.jurisdiction_group: r for r in handler.central_decisions()}
    assert set(by_group) == {"EU-*", "US-*"}
    assert by_group["EU-*"].silos == ("EU-DE", "EU-FR") and by_group["EU-*"].rows == 6000
    assert by_group["EU-*"].decision.allow
    us = by_group["US-*"].decision
    assert not us.allow and "retrain" in us.actions
    assert any("demographic parity" in d for d in us.deny)
    (job,) = handler.list_jobs()
    assert job.reason.startswith("central US-*")
    assert {c.silo_id for c in job.commands} == {"EU-DE", "EU-FR", "US-NY"}


def test_central_input_names_the_group_and_silos(credit_spec: MonitoringSpec) -> None:
    gate = CentralGate(RegoEngine.from_bundle(default_bundle_path()))
    reports = [_report(credit_spec, "EU-DE", 1), _report(credit_spec, "EU-FR", 2)]
    doc = gate.policy_input("EU-*", reports, {"sample_size": 6000})
    assert doc["jurisdiction"] == "EU-*" and doc["silo"] == "central"
    assert doc["silos"] == ["EU-DE", "EU-FR"] and doc["sample_size"] == 6000
