"""Silent silos and metric history."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support.reports import report_of
from support.servers import registered_handler
from support.specs import stats_of

from aggregator.handler import AggregatorHandler
from fedgov.errors import QueryError
from fedgov.metrics import compute_metrics
from fedgov.report import Report, now_ms
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data


@pytest.fixture
def handler(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorHandler:
    return registered_handler(tmp_path / "a.db", credit_spec, ("EU-DE", "EU-FR", "US-NY"))


def _report(spec: MonitoringSpec, silo: str, end_ms: int, *, drift: float = 0.0) -> Report:
    stats = stats_of(spec, credit_data(1000, seed=end_ms % 97, drift=drift))
    return report_of(
        spec, stats, f"{silo}-{end_ms}", silo=silo, window_start_ms=end_ms - 1,
        window_end_ms=end_ms, metrics=compute_metrics(spec, stats),
    )  # fmt: skip


def test_stale_silos(handler: AggregatorHandler) -> None:
    t = now_ms()
    assert {s.silo_id for s in handler.query_silos()} == {"EU-DE", "EU-FR", "US-NY"}
    assert handler.query_silos(stale_after_ms=60_000, now=t) == []
    later = t + 3_600_000
    stale = handler.query_silos(stale_after_ms=60_000, now=later, jurisdiction_glob="EU-*")
    assert {s.silo_id for s in stale} == {"EU-DE", "EU-FR"}
    with pytest.raises(QueryError):
        handler.query_silos(stale_after_ms=-1)


def test_history_of_psi_and_fairness(
    handler: AggregatorHandler, credit_spec: MonitoringSpec
) -> None:
    for i, drift in enumerate((0.0, 0.5, 1.0)):
        handler.ingest(_report(credit_spec, "EU-DE", 1000 + i, drift=drift))
    handler.ingest(_report(credit_spec, "US-NY", 1500))
    psi = handler.query_history("credit-risk", "psi", feature="income", jurisdiction_glob="EU-*")
    values = [p.value for p in psi]
    assert [p.window_end_ms for p in psi] == [1000, 1001, 1002]
    assert values == sorted(values) and values[-1] > 0.2  # drift grows over time
    stored = handler.store.get_report("EU-DE-1002")
    assert stored is not None
    assert values[-1] == stored.metrics["drift"]["features"]["income"]["psi"]
    dp = handler.query_history("credit-risk", "demographic_parity_ratio", attribute="sex")
    assert len(dp) == 4 and all(p.value is not None and 0 < p.value <= 1 for p in dp)
    since = handler.query_history("credit-risk", "sample_size", since_ms=1400)
    assert [(p.silo_id, p.report_id, p.value) for p in since] == [("US-NY", "US-NY-1500", 1000.0)]
    with pytest.raises(QueryError, match="none of the"):
        handler.query_history("credit-risk", "psi")  # drift metric without --feature


def test_history_over_grpc(handler: AggregatorHandler, credit_spec: MonitoringSpec) -> None:
    from aggregator.answers import HistoryPoint
    from aggregator.query_client import QueryClient
    from aggregator.server import create_server

    handler.ingest(_report(credit_spec, "EU-DE", 1000))
    no_metrics = dataclasses.replace(_report(credit_spec, "US-NY", 1001), metrics={})
    handler.ingest(no_metrics)
    srv = create_server("127.0.0.1:0", handler.store)
    try:
        with QueryClient(f"127.0.0.1:{srv.port}") as q:
            rows = q.history("credit-risk", "psi", feature="income")
    finally:
        srv.stop(0)
    psi = handler.query_history("credit-risk", "psi", feature="income")
    assert rows == [
        HistoryPoint("EU-DE", "EU-DE", credit_spec.model_version, 1000, psi[0].value, "EU-DE-1000"),
        HistoryPoint("US-NY", "US-NY", credit_spec.model_version, 1001, None, "US-NY-1001"),
    ]
    assert psi[0].value is not None and psi[0].value > 0
