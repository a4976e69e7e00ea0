"""Every RPC of fedgov.v1.Aggregator x every kind of caller, on a real mTLS server.

The expected outcome of each pair is read from the one table,
:data:`aggregator._rpc.RPC_ROLES`: a caller whose certificate grants no role
the RPC is open to, or a silo naming another silo, gets PERMISSION_DENIED
(counted and audited); anyone else gets past the check (the call may still
fail on its content, never on who made it). The RPCs come from the service
descriptor, so an RPC added without a row, or without a request here that
names a silo where the table needs one, fails this test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from prometheus_client import CollectorRegistry
from support.pki import audit_records, make_pki, mtls_aggregator, named_only, tls_files
from support.reports import report_of
from support.specs import stats_of

from agent.client import register_request
from aggregator._rpc import RPC_ROLES
from aggregator.server import RunningServer
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data
from fedgov.tls import TlsFiles, channel_credentials
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc
from fedgov.wire import report_to_proto

pytestmark = pytest.mark.integration

SERVICE = pb.DESCRIPTOR.services_by_name["Aggregator"]
OWN = "EU-DE"  # every request that names a silo names this one
# caller -> (certificate, the role the table should see)
CALLERS: dict[str, tuple[str, str | None]] = {
    "silo own": ("EU-DE", "silo"),
    "silo other": ("US-NY", "silo"),
    "operator": ("operator", "operator"),
    "auditor": ("auditor", "auditor"),
    "CN operator, no role SAN": ("named:operator", None),
    "CN EU-DE, no silo SAN": ("named:EU-DE", None),
}


def _requests(spec: MonitoringSpec) -> dict[str, Any]:
    """A request per RPC that passes the wire checks; others are built from the descriptor."""
    report = report_to_proto(report_of(spec, stats_of(spec, credit_data(200, seed=3)), "walk"))
    return {
        "Register": register_request(OWN, OWN, [spec]),
        "SubmitReport": pb.SubmitReportRequest(report=report),
        "SubmitReports": pb.SubmitReportRequest(report=report),  # a stream of this one
        "AckCommand": pb.CommandAck(command_id="c1", silo_id=OWN, status="accepted"),
        "QueryDrift": pb.DriftQuery(psi_threshold=0.2, silo_id=OWN),
        "QueryFairness": pb.FairnessQuery(model_id=spec.model_id),
        "QueryHistory": pb.HistoryQuery(model_id=spec.model_id, metric="sample_size", silo_id=OWN),
        "PromoteModel": pb.PromoteRequest(model_id=spec.model_id, version=spec.model_version),
        "RollbackModel": pb.RollbackRequest(model_id=spec.model_id),
        "ApproveSilo": pb.ApproveSiloRequest(silo_id=OWN, jurisdiction=OWN),
    }


def _request(name: str, made: dict[str, Any]) -> Any:
    if name in made:
        return made[name]
    method = SERVICE.methods_by_name[name]
    request = message_factory.GetMessageClass(method.input_type)()
    if "silo_id" in method.input_type.fields_by_name:
        request.silo_id = OWN
    return request


def _expected_denied(rpc: str, caller: str, request: Any) -> bool:
    access = RPC_ROLES[rpc]
    role = CALLERS[caller][1]
    if role not in access.roles:
        return True
    if role != "silo":
        return False
    named = request
    for part in access.silo_field.split("."):
        named = getattr(named, part)
    assert named == OWN, f"{rpc}: the walk's request must name {OWN} in {access.silo_field}"
    return caller == "silo other"


def _code(stub: aggregator_pb2_grpc.AggregatorStub, rpc: str, request: Any) -> grpc.StatusCode:
    call = getattr(stub, rpc)
    method = SERVICE.methods_by_name[rpc]
    try:
        if method.client_streaming:  # each request is checked alone: its ack says how
            (ack,) = list(call(iter([request]), timeout=10))
            if ack.HasField("error"):
                return next(c for c in grpc.StatusCode if c.value[0] == ack.error.code)
        elif method.server_streaming:
            for _ in call(request, timeout=1.0):
                break  # a first message: the stream was let in
        else:
            call(request, timeout=10)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.fixture
def server(
    tmp_path: Path, credit_spec: MonitoringSpec
) -> Iterator[tuple[RunningServer, Path, CollectorRegistry]]:
    pki = make_pki(tmp_path / "pki")
    registry = CollectorRegistry()
    with mtls_aggregator(
        tmp_path, pki, credit_spec, {"EU-DE": "EU-DE", "US-NY": "US-NY"}, registry
    ) as running:
        yield running, pki, registry


def _files(pki: Path, certificate: str) -> TlsFiles:
    if certificate.startswith("named:"):
        return named_only(pki, certificate.removeprefix("named:"))
    return tls_files(pki, certificate)


def test_every_rpc_with_every_role_behaves_as_the_table_says(
    tmp_path: Path,
    server: tuple[RunningServer, Path, CollectorRegistry],
    credit_spec: MonitoringSpec,
) -> None:
    running, pki, registry = server
    rpcs = [m.name for m in SERVICE.methods]
    assert set(rpcs) == set(RPC_ROLES), "every RPC has exactly one row in RPC_ROLES"
    made = _requests(credit_spec)
    outcomes: dict[tuple[str, str], grpc.StatusCode] = {}
    wrong = []
    denials = 0
    for caller, (certificate, _role) in CALLERS.items():
        creds = channel_credentials(_files(pki, certificate))
        with grpc.secure_channel(f"127.0.0.1:{running.port}", creds) as channel:
            stub = aggregator_pb2_grpc.AggregatorStub(channel)
            for rpc in rpcs:
                request = _request(rpc, made)
                denied = _expected_denied(rpc, caller, request)
                code = _code(stub, rpc, request)
                outcomes[rpc, caller] = code
                denials += denied
                if denied != (code is grpc.StatusCode.PERMISSION_DENIED):
                    wrong.append(f"{rpc} as {caller}: {code.name}, table says denied={denied}")
    assert not wrong, "\n".join(wrong)
    assert len(outcomes) == len(rpcs) * len(CALLERS)
    # Each refusal counted once and audited once, with who asked.
    assert registry.get_sample_value("fedgov_aggregator_identity_denied_total") == denials
    refused = audit_records(tmp_path, "identity_denied")
    assert len(refused) == denials
    assert {r["peer"] for r in refused} >= {
        "silo 'US-NY' (US-NY)",
        "'operator' (no fedgov role in its certificate)",
        "'EU-DE' (no fedgov role in its certificate)",
        "auditor 'auditor'",
    }
    # The walk's allowed calls really ran: the operator's promotion and the silo's report.
    assert outcomes["PromoteModel", "operator"] is grpc.StatusCode.OK
    assert outcomes["SubmitReport", "silo own"] is grpc.StatusCode.OK
    assert running.handler.store.get_silo("EU-DE").jurisdiction == "EU-DE"  # type: ignore[union-attr]
