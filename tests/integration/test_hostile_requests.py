"""Absurd requests to a real aggregator: INVALID_ARGUMENT with a short readable message.

Each case used to end as INTERNAL (a RecursionError in the log), as a trailer too
large for gRPC (the client saw a transport failure and retried), or was accepted.
After each refusal the server still answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.reports import report_of
from support.servers import running_aggregator
from support.specs import stats_of

from aggregator._status import MAX_DETAIL_BYTES
from aggregator.query_client import QueryClient
from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.errors import ConfigError, QueryError, ReportRejected
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc, report_pb2
from fedgov.wire import report_to_proto
from fedgov.wire.retry import Backoff, call_with_retry

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path, credit_spec: MonitoringSpec) -> Iterator[RunningServer]:
    with running_aggregator(tmp_path / "agg.db", credit_spec) as running:
        yield running


@pytest.fixture
def stub(server: RunningServer) -> Iterator[aggregator_pb2_grpc.AggregatorStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield aggregator_pb2_grpc.AggregatorStub(channel)


def _report(spec: MonitoringSpec) -> report_pb2.Report:
    return report_to_proto(report_of(spec, stats_of(spec, credit_data(300, seed=9))))


def _refused(call: Callable[[], Any]) -> str:
    """The details of an INVALID_ARGUMENT; fails on success or any other status."""
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    details = err.value.details() or ""
    assert len(details.encode()) <= MAX_DETAIL_BYTES
    return details


def _still_serving(stub: aggregator_pb2_grpc.AggregatorStub) -> None:
    assert stub.QuerySilos(pb.SilosQuery(), timeout=5).rows[0].silo_id == "EU-DE"


@pytest.mark.parametrize("ms", [2**63 - 1, -(2**63), -1, 253_402_300_800_000])
def test_absurd_times_are_invalid_argument(
    stub: aggregator_pb2_grpc.AggregatorStub, ms: int
) -> None:
    for call, field in [
        (lambda: stub.QueryDrift(pb.DriftQuery(since_unix_ms=ms), timeout=5), "since_unix_ms"),
        (
            lambda: stub.QueryFairness(pb.FairnessQuery(model_id="m", since_unix_ms=ms), timeout=5),
            "since_unix_ms",
        ),
        (
            lambda: stub.QueryHistory(
                pb.HistoryQuery(model_id="m", metric="psi", since_unix_ms=ms), timeout=5
            ),
            "since_unix_ms",
        ),
        (lambda: stub.QuerySilos(pb.SilosQuery(stale_after_ms=ms), timeout=5), "stale_after_ms"),
    ]:
        details = _refused(call)
        assert details.startswith(f"request.{field}: ") and len(details) < 200, details
    _still_serving(stub)


def test_deeply_nested_json_is_invalid_argument(
    server: RunningServer, stub: aggregator_pb2_grpc.AggregatorStub, credit_spec: MonitoringSpec
) -> None:
    report = _report(credit_spec)
    for bomb in ("[" * 100_000, '{"a":' * 65 + "1" + "}" * 65):
        report.metrics_json = bomb
        details = _refused(
            lambda: stub.SubmitReport(pb.SubmitReportRequest(report=report), timeout=10)
        )
        assert details.startswith("report.metrics_json: nested more than 64 levels"), details
    model = pb.ModelServed(
        model_id="m", model_version="1", spec_digest="sha256:x", spec_json="[" * 100_000
    )
    register = pb.RegisterRequest(silo_id="EU-FR", jurisdiction="EU-FR", models=[model])
    details = _refused(lambda: stub.Register(register, timeout=10))
    assert details.startswith("models[0].spec_json: nested more than 64 levels"), details
    assert server.handler.store.count_reports() == 0
    # Nested as deep as a spec may be, the report goes through.
    report.metrics_json = json.dumps({"a": [[[[{"b": 1}]]]]})
    assert not stub.SubmitReport(pb.SubmitReportRequest(report=report), timeout=10).duplicate
    _still_serving(stub)


def test_a_spec_that_is_not_one_is_invalid_argument(
    stub: aggregator_pb2_grpc.AggregatorStub,
) -> None:
    model = pb.ModelServed(model_id="m", model_version="1", spec_digest="x", spec_json="{}")
    register = pb.RegisterRequest(silo_id="EU-FR", jurisdiction="EU-FR", models=[model])
    assert "models[0].spec_json" in _refused(lambda: stub.Register(register, timeout=10))


def test_an_error_listing_20000_features_is_cut_to_fit(
    server: RunningServer, credit_spec: MonitoringSpec
) -> None:
    report = _report(credit_spec)
    report.stats.features.extend(
        report_pb2.FeatureCounts(name=f"extra_feature_{i:05d}", kind="numeric", counts=[0, 0, 0])
        for i in range(20_000)
    )
    request = pb.SubmitReportRequest(report=report)
    calls = 0
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = aggregator_pb2_grpc.AggregatorStub(channel)

        def submit() -> pb.ReportAck:
            nonlocal calls
            calls += 1
            return stub.SubmitReport(request, timeout=30)

        # The client sees the aggregator's own words, cut, on the first attempt.
        with pytest.raises(ReportRejected) as err:
            call_with_retry(
                "report r1", submit, address="test", backoff=Backoff(initial=0.01, max_elapsed=5)
            )
        message = str(err.value)
        assert calls == 1
        assert message.startswith("report r1: report.stats.features: not in the spec: [")
        assert "extra_feature_00000" in message
        assert message.endswith(" more characters)")
        assert len(message.encode()) <= MAX_DETAIL_BYTES + len("report r1: ")
        _still_serving(stub)
    assert server.handler.store.count_reports() == 0


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("silo_id", "S" * 100_000, "report.silo_id: 100000 characters long"),
        ("model_id", "bad\nid", "report.model_id: 'bad\\nid' is not an identifier"),
        ("jurisdiction", "EU DE", "report.jurisdiction: 'EU DE' is not an identifier"),
    ],
)
def test_report_identifiers_are_bounded(
    stub: aggregator_pb2_grpc.AggregatorStub,
    credit_spec: MonitoringSpec,
    field: str,
    value: str,
    says: str,
) -> None:
    report = _report(credit_spec)
    setattr(report, field, value)
    details = _refused(lambda: stub.SubmitReport(pb.SubmitReportRequest(report=report), timeout=10))
    assert details.startswith(says), details
    _still_serving(stub)


def test_report_names_and_times_are_bounded(
    stub: aggregator_pb2_grpc.AggregatorStub, credit_spec: MonitoringSpec
) -> None:
    report = _report(credit_spec)
    report.stats.features[0].name = "a\x00b"
    details = _refused(lambda: stub.SubmitReport(pb.SubmitReportRequest(report=report), timeout=10))
    assert details.startswith("report.stats.features[0].name: 'a\\x00b' holds control"), details
    report = _report(credit_spec)
    report.window.end_unix_ms = 2**62
    details = _refused(lambda: stub.SubmitReport(pb.SubmitReportRequest(report=report), timeout=10))
    assert details.startswith("report.window.end_unix_ms: "), details


def test_a_huge_model_id_is_refused_once_not_retried(server: RunningServer) -> None:
    started = time.monotonic()
    with (
        QueryClient(f"127.0.0.1:{server.port}", retry_for=5.0) as client,
        pytest.raises(QueryError) as err,
    ):
        client.fairness("M" * 100_000)
    assert time.monotonic() - started < 2.0  # retried, it would take retry_for (5 s)
    assert str(err.value) == (
        "fairness query: request.model_id: 100000 characters long, the limit is 128"
    )


def test_a_second_server_on_a_busy_port_fails(server: RunningServer, tmp_path: Path) -> None:
    # gRPC's default SO_REUSEPORT would let it start and take half of the first one's calls.
    store = SqliteStore(tmp_path / "second.db")
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{server.port}: .* in use"):
        create_server(f"127.0.0.1:{server.port}", store)
    store.close()
