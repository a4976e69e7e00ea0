"""The central gate judges merged metrics per jurisdiction group."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
from support.reports import report_of
from support.servers import registered_handler
from support.specs import stats_of

from aggregator.central import CentralGate
from aggregator.handler import AggregatorHandler
from aggregator.store import CentralDecisionRecord
from fedgov.metrics import compute_metrics
from fedgov.policy import RegoEngine, default_bundle_path
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    gate = CentralGate(RegoEngine.from_bundle(default_bundle_path()), ("EU-*", "US-*"))
    return registered_handler(
        tmp_path / "a.db", credit_spec, ("EU-DE", "EU-FR", "US-NY"), central=gate
    )


def _report(spec: MonitoringSpec, silo: str, seed: int, bias: float = 0.0) -> Report:
    stats = stats_of(spec, credit_data(3000, seed=seed, bias=bias))
    # the silo's own gate passed: an allowing decision
    return report_of(
        spec, stats, f"{silo}-{seed}", silo=silo, window_end_ms=1000,
        metrics=compute_metrics(spec, stats),
    )  # fmt: skip


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


def _newer(report: Report, end_ms: int) -> Report:
    return dataclasses.replace(
        report,
        report_id=f"{report.report_id}-{end_ms}",
        window_start_ms=end_ms - 1000,
        window_end_ms=end_ms,
    )


def _eu_decision(handler: AggregatorHandler) -> CentralDecisionRecord:
    return {r.jurisdiction_group: r for r in handler.central_decisions()}["EU-*"]


def test_a_newer_report_changes_the_central_decision(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    """The gate reuses decoded reports, but never one that a newer report replaced."""
    handler.ingest(_report(credit_spec, "EU-DE", 1))
    handler.ingest(_report(credit_spec, "EU-FR", 2))
    assert _eu_decision(handler).decision.allow
    biased = _newer(_report(credit_spec, "EU-FR", 4, bias=0.4), 2000)
    handler.ingest(biased)
    eu = _eu_decision(handler)
    assert not eu.decision.allow and any("demographic parity" in d for d in eu.decision.deny)
    # A handler with nothing held decides the same from the store.
    fresh = AggregatorHandler(handler.store, central=handler.central)
    again = fresh.evaluate_central(credit_spec.model_id, credit_spec.model_version, "EU-*")
    assert again is not None and again.decision == eu.decision and again.rows == eu.rows
    handler.ingest(_newer(_report(credit_spec, "EU-FR", 5), 3000))  # fixed again
    assert _eu_decision(handler).decision.allow
    assert _eu_decision(handler).silos == ("EU-DE", "EU-FR")


def test_each_ingest_decodes_only_the_new_report(
    handler: AggregatorHandler, credit_spec: MonitoringSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    get_reports = handler.store.get_reports

    def counting(report_ids: Sequence[str]) -> dict[str, Report]:
        decoded.extend(report_ids)
        return get_reports(report_ids)

    monkeypatch.setattr(handler.store, "get_reports", counting)
    monkeypatch.setattr(handler.store, "get_report", None)
    monkeypatch.setattr(handler.store, "reports_for_model", None)  # not on this path any more
    handler.ingest(_report(credit_spec, "EU-DE", 1))
    handler.ingest(_report(credit_spec, "EU-FR", 2))
    handler.ingest(_report(credit_spec, "US-NY", 3))
    assert decoded == ["EU-DE-1", "EU-FR-2", "US-NY-3"]
    decoded.clear()
    newer = _newer(_report(credit_spec, "EU-DE", 6), 2000)
    handler.ingest(newer)
    assert decoded == [newer.report_id]  # EU-FR's report was held, not decoded again


def test_a_released_secure_sum_is_judged_by_the_central_gate_and_says_so(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    from aggregator.store import ReleaseRecord

    stats = stats_of(credit_spec, credit_data(3000, seed=5, bias=0.3))  # biased against women
    release = ReleaseRecord(
        "r1", credit_spec.model_id, credit_spec.model_version, 0, 3_600_000, "US-*",
        ("US-A", "US-B", "US-C"), 10, b"", "[]", 1,
    )  # fmt: skip
    source = "exact, secure sum of 3 silos"
    rec = handler.rounds.on_release(release, stats, source)  # type: ignore[misc]
    assert rec is not None and rec.source == source and rec.silos == ("US-A", "US-B", "US-C")
    assert not rec.decision.allow and any("sex" in d for d in rec.decision.deny)
    [latest] = [
        d for d in handler.store.latest_central_decisions() if d.jurisdiction_group == "US-*"
    ]
    assert latest.source == source
    assert [j.model_version for j in handler.store.list_jobs()] == [credit_spec.model_version]
    # A part that is not a central group is not judged.
    other = dataclasses.replace(release, part="EU-DE")
    assert handler.rounds.on_release(other, stats, source) is None  # type: ignore[misc]
