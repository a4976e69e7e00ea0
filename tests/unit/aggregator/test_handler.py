"""Ingest validation: what the aggregator refuses, and that refusing stores nothing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from aggregator.handler import AggregatorHandler, ModelRegistration
from aggregator.store import SqliteStore
from fedgov.errors import NotRegistered, QueryError, ReportRejected
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import FeatureCounts, WindowStats, encode_columns
from fedgov.synthetic import credit_data


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    h = AggregatorHandler(SqliteStore(tmp_path / "a.db"))
    reg = ModelRegistration(
        credit_spec.model_id,
        credit_spec.model_version,
        credit_spec.digest,
        json.dumps(credit_spec.to_dict()),
    )
    h.register("EU-DE", "EU-DE", "sha256:x", [reg])
    return h


def _report(spec: MonitoringSpec, **kw: object) -> Report:
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, credit_data(300, seed=9)))
    base = dict(
        report_id="r1",
        silo_id="EU-DE",
        jurisdiction="EU-DE",
        model_id=spec.model_id,
        model_version=spec.model_version,
        window_start_ms=0,
        window_end_ms=1,
        spec_digest=spec.digest,
        stats=stats,
        metrics={},
        decision=Decision(allow=True),
    )
    base.update(kw)
    return Report(**base)  # type: ignore[arg-type]


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
    from fedgov.stats import derive_spec

    spec = derive_spec(
        credit_data(2000, seed=1, with_score=True), model_id="credit-risk",
        model_version="2.0.0", label="repaid", prediction="approved",
        sensitive=["sex", "age_band"], score="score", categorical=["purpose", "employment"],
    )  # fmt: skip
    h = AggregatorHandler(SqliteStore(tmp_path / "s.db"))
    reg = ModelRegistration(spec.model_id, spec.model_version, spec.digest,
                            json.dumps(spec.to_dict()))  # fmt: skip
    data = {silo: credit_data(700, seed=seed, with_score=True, bias=bias)
            for silo, seed, bias in (("EU-DE", 5, 0.0), ("EU-FR", 6, 0.2))}  # fmt: skip
    for silo, cols in data.items():
        h.register(silo, silo, "sha256:x", [reg])
        stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, cols))
        r = Report(
            report_id=f"r-{silo}", silo_id=silo, jurisdiction=silo, model_id=spec.model_id,
            model_version=spec.model_version, window_start_ms=0, window_end_ms=1,
            spec_digest=spec.digest, stats=stats, metrics={}, decision=Decision(allow=True),
        )  # fmt: skip
        assert h.ingest(r) is False
    answer = h.query_fairness(spec.model_id, model_version=spec.model_version)
    pooled_cols = {k: np.concatenate([d[k] for d in data.values()]) for k in data["EU-DE"]}
    pooled = WindowStats.zero(spec).fold(spec, encode_columns(spec, pooled_cols))
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
    h = AggregatorHandler(SqliteStore(tmp_path / "a.db"), audit=AuditLog(log_path))
    reg = ModelRegistration(
        credit_spec.model_id,
        credit_spec.model_version,
        credit_spec.digest,
        json.dumps(credit_spec.to_dict()),
    )
    h.register("EU-DE", "EU-DE", "sha256:x", [reg])
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
