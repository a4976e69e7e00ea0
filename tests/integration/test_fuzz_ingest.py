"""Hostile input to the ingest path: clean errors, no crash, nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.servers import running_aggregator

from aggregator.server import RunningServer
from fedgov.spec import MonitoringSpec
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import report_pb2

pytestmark = pytest.mark.integration

CLEAN = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, credit_spec: MonitoringSpec
) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("fuzz") / "agg.db"
    with running_aggregator(db, credit_spec) as running:
        yield running


@pytest.fixture(scope="module")
def raw_submit(server: RunningServer) -> Iterator[grpc.UnaryUnaryMultiCallable]:
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield channel.unary_unary(
        "/fedgov.v1.Aggregator/SubmitReport",
        request_serializer=lambda b: b,
        response_deserializer=pb.ReportAck.FromString,
    )
    channel.close()


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(st.binary(max_size=2048))
def test_malformed_bytes(server: RunningServer, raw_submit, data: bytes) -> None:
    try:
        raw_submit(data, timeout=5)
    except grpc.RpcError as exc:
        # Undecodable bytes are refused by gRPC itself; decodable garbage by our validation.
        assert exc.code() in CLEAN | {grpc.StatusCode.INTERNAL}
        if exc.code() is grpc.StatusCode.INTERNAL:
            assert "deserializ" in (exc.details() or "").lower()
    assert server.handler.store.count_reports() == 0


counts = st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=40)
text = st.text(max_size=40)


@st.composite
def hostile_reports(draw: st.DrawFn, spec: MonitoringSpec) -> bytes:
    feats = [
        report_pb2.FeatureCounts(
            name=draw(st.sampled_from([f.name for f in spec.features]) | text),
            kind=draw(st.sampled_from(["numeric", "categorical"]) | text),
            counts=draw(counts),
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    outcomes = [
        report_pb2.OutcomeCounts(
            attribute=draw(st.sampled_from(["sex", "age_band"]) | text),
            groups=draw(st.lists(text, max_size=4)),
            counts=draw(counts),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    digest = draw(st.sampled_from([spec.digest, ""]) | text)
    report = report_pb2.Report(
        report_id=draw(text | st.text(min_size=100, max_size=300)),
        silo_id=draw(st.sampled_from(["EU-DE", "", "EU-FR"])),
        jurisdiction=draw(st.sampled_from(["EU-DE", "US-NY"])),
        model_id=spec.model_id,
        model_version=draw(st.sampled_from([spec.model_version, "9"])),
        window=report_pb2.Window(
            start_unix_ms=draw(st.integers(-(2**62), 2**62)),
            end_unix_ms=draw(st.integers(-(2**62), 2**62)),
        ),
        spec_digest=digest,
        stats=report_pb2.WindowStats(
            spec_digest=digest,
            rows=draw(st.integers(-(2**40), 2**40)),
            features=feats,
            outcomes=outcomes,
            outcome_missing=draw(st.integers(-5, 5)),
        ),
        metrics_json=draw(st.sampled_from(["{}", "NaN", "[1]", '{"a": NaN}', "{"]) | text),
    )
    return pb.SubmitReportRequest(report=report).SerializeToString()


def test_hostile_field_values(
    server: RunningServer, raw_submit, credit_spec: MonitoringSpec
) -> None:
    @FUZZ
    @given(hostile_reports(credit_spec))
    def check(data: bytes) -> None:
        with pytest.raises(grpc.RpcError) as err:
            raw_submit(data, timeout=5)
        assert err.value.code() in CLEAN, err.value.details()
        assert server.handler.store.count_reports() == 0

    check()


def test_oversized_message_is_refused_and_server_keeps_serving(
    server: RunningServer, raw_submit
) -> None:
    big = pb.SubmitReportRequest(
        report=report_pb2.Report(report_id="x", metrics_json="x" * (9 << 20))
    ).SerializeToString()
    with pytest.raises(grpc.RpcError) as err:
        raw_submit(big, timeout=10)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    # Still serving:
    with pytest.raises(grpc.RpcError) as err2:
        raw_submit(pb.SubmitReportRequest().SerializeToString(), timeout=5)
    assert err2.value.code() is grpc.StatusCode.INVALID_ARGUMENT
