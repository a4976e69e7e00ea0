"""Ingest validation: what the aggregator refuses, and that refusing stores nothing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from support.reports import report_of
from support.servers import registered_handler
from support.specs import derive_credit_spec, stats_of

from aggregator.handler import AggregatorHandler
from fedgov.errors import NotRegistered, QueryError, ReportRejected
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import FeatureCounts
from fedgov.synthetic import credit_data


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    return registered_handler(tmp_path / "a.db", credit_spec)


def _report(spec: MonitoringSpec, **kw: object) -> Report:
    return report_of(spec, stats_of(spec, credit_data(300, seed=9)), **kw)  # type: ignore[arg-type]


def test_valid_report_stored_once(handler: AggregatorHandler, credit_spec: MonitoringSpec) -> None:
    r = _report(credit_spec)
    assert handler.ingest(r) is False
    assert handler.ingest(r) is True
    assert handler.store.count_reports() == 1


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"silo_id": "XX"}, NotRegistered, "not registered"),
        ({"model_version": "9"}, NotRegistered, "not registered"),
        ({"spec_digest": "0" * 64}, NotRegistered, "differs from the spec"),
        ({"jurisdiction": "US-NY"}, ReportRejected, "jurisdiction"),
    ],
)
def test_rejects_unknown_subjects(
    handler: AggregatorHandler, credit_spec: MonitoringSpec, change: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        handler.ingest(_report(credit_spec, **change))
    assert handler.store.count_reports() == 0


def _with_feature(r: Report, name: str, counts: np.ndarray) -> Report:
    feats = dict(r.stats.features)
    feats[name] = dataclasses.replace(feats[name], counts=counts)
    return dataclasses.replace(r, stats=dataclasses.replace(r.stats, features=feats))


def test_rejects_inconsistent_counts(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    r = _report(credit_spec)
    fc: FeatureCounts = r.stats.features["income"]
    bumped = fc.counts.copy()
    bumped[1] += 5
    with pytest.raises(ReportRejected, match=r"income.*add up to"):
        handler.ingest(_with_feature(r, "income", bumped))
    with pytest.raises(ReportRejected, match=r"income.*cells"):
        handler.ingest(_with_feature(r, "income", fc.counts[:-1]))
    assert handler.store.count_reports() == 0


def test_queries_validate(handler: AggregatorHandler) -> None:
    with pytest.raises(QueryError, match="no reports"):
        handler.query_fairness("credit-risk", jurisdiction_glob="EU-*")
    with pytest.raises(QueryError, match="threshold"):
        handler.query_drift(float("nan"))


def test_score_histograms_merge_across_silos_into_the_pooled_auc(tmp_path: Path) -> None:
    from fedgov.metrics import compute_metrics

    spec = derive_credit_spec(
        2000, with_score=True, model_version="2.0.0", intersections=[], score="score"
    )
    data = {silo: credit_data(700, seed=seed, with_score=True, bias=bias)
            for silo, seed, bias in (("EU-DE", 5, 0.0), ("EU-FR", 6, 0.2))}  # fmt: skip
    h = registered_handler(tmp_path / "s.db", spec, data)
    for silo, cols in data.items():
        assert h.ingest(report_of(spec, stats_of(spec, cols), f"r-{silo}", silo=silo)) is False
    answer = h.query_fairness(spec.model_id, model_version=spec.model_version)
    pooled_cols = {k: np.concatenate([d[k] for d in data.values()]) for k in data["EU-DE"]}
    pooled = stats_of(spec, pooled_cols)
    assert answer.metrics["fairness"] == compute_metrics(spec, pooled)["fairness"]
    assert answer.metrics["fairness"]["sex"]["groups"]["F"]["auc"] is not None
    assert answer.metrics["fairness"]["sex"]["auc_difference"] is not None


def test_a_report_stored_before_a_crash_is_audited_on_the_retry(
    tmp_path: Path, credit_spec: MonitoringSpec
) -> None:
    """Commit, then crash before the report_accepted record: no ack went out, so the
    agent sends the report again, and the duplicate is audited."""
    from fedgov.audit import AuditLog, verify_chain

    log_path = tmp_path / "audit.jsonl"
    h = registered_handler(tmp_path / "a.db", credit_spec, audit=AuditLog(log_path))
    r = _report(credit_spec, report_id="r-crash")
    assert h.store.add_report(r)  # committed; the process died before auditing it
    before = log_path.read_text() if log_path.exists() else ""
    assert "r-crash" not in before
    assert h.ingest(r) is True  # the retry: already stored
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    dup = [x for x in records if x.get("report_id") == "r-crash"]
    assert [x["kind"] for x in dup] == ["report_duplicate"], dup
    assert dup[0]["silo"] == "EU-DE"
    assert verify_chain(log_path).ok


def test_a_silo_moving_jurisdiction_is_audited(tmp_path: Path, credit_spec: MonitoringSpec) -> None:
    from support.servers import register

    from fedgov.audit import AuditLog

    audit = AuditLog(tmp_path / "audit.jsonl")
    handler = registered_handler(tmp_path / "a.db", credit_spec, ["site-1"], audit=audit)
    register(handler, credit_spec, ["site-1"])  # the same jurisdiction again: nothing to say
    register(handler, credit_spec, ["site-1"], jurisdiction="EU-FR")  # only without TLS
    done = handler.approve_silo("site-1", "EU-IE", approved_by="operator 'op'", reason="moved")
    assert done.previous == "EU-FR"
    records = [json.loads(line) for line in audit.path.read_text().splitlines()]
    moves = [
        (r["kind"], r["previous"], r["jurisdiction"])
        for r in records
        if r["kind"].startswith("silo_jurisdiction")
    ]
    assert moves == [
        ("silo_jurisdiction_changed", "site-1", "EU-FR"),
        ("silo_jurisdiction_approved", "EU-FR", "EU-IE"),
    ]
    assert handler.approved_jurisdiction("site-1") == "EU-IE"
    silo = handler.store.get_silo("site-1")
    assert silo is not None and silo.jurisdiction == "EU-IE"
    with pytest.raises(ReportRejected, match="silo_id and jurisdiction are required"):
        handler.approve_silo("site-1", "", approved_by="op", reason="")
