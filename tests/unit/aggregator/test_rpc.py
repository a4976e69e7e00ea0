"""The RPC -> roles table covers the service, and the decorator checks and translates."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.servers import registered_handler

from aggregator._rpc import RPC_ROLES
from aggregator.servicer import AggregatorServicer
from fedgov.audit import AuditLog
from fedgov.spec import MonitoringSpec
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import report_pb2


class Aborted(Exception):
    pass


class FakeContext:
    """What the servicer uses of a grpc.ServicerContext; abort raises like gRPC's."""

    def __init__(self, peer: str | None) -> None:
        self.identity = peer
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_common_name": [self.identity.encode()]} if self.identity else {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Aborted(details)


@pytest.fixture
def servicer(tmp_path: Path, credit_spec: MonitoringSpec) -> AggregatorServicer:
    handler = registered_handler(
        tmp_path / "a.db", credit_spec, audit=AuditLog(tmp_path / "audit.jsonl")
    )
    return AggregatorServicer(handler, require_identity=True)


def _call(servicer: AggregatorServicer, rpc: str, request: Any, peer: str | None) -> FakeContext:
    context = FakeContext(peer)

    async def run() -> None:
        call = getattr(servicer, rpc)(request, context)
        if inspect.isasyncgen(call):
            async for _ in call:
                pass
        else:
            await call

    try:
        asyncio.run(run())
    except Aborted:
        pass
    return context


def test_every_rpc_of_the_service_has_one_row_and_is_wrapped() -> None:
    service = pb.DESCRIPTOR.services_by_name["Aggregator"]
    assert set(RPC_ROLES) == {m.name for m in service.methods}
    for name in RPC_ROLES:
        assert hasattr(getattr(AggregatorServicer, name), "__wrapped__"), name
    assert {r for a in RPC_ROLES.values() for r in a.roles} == {"silo", "operator", "auditor"}


def test_only_the_operator_identity_may_promote(servicer: AggregatorServicer) -> None:
    request = pb.PromoteRequest(model_id="credit-risk", version="1.0.0")
    denied = _call(servicer, "PromoteModel", request, "EU-DE")
    assert denied.code is grpc.StatusCode.PERMISSION_DENIED
    assert denied.details == "promote: only the operator identity may do this"
    assert servicer.metrics.denied._value.get() == 1
    audit = servicer.handler.audit
    assert audit is not None
    records = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert records[-1]["kind"] == "identity_denied"
    assert records[-1]["claimed_silo"] == "operator" and records[-1]["peer"] == "EU-DE"
    assert _call(servicer, "PromoteModel", request, "operator").code is None


def test_a_silo_acts_only_as_itself_even_inside_a_report(servicer: AggregatorServicer) -> None:
    request = pb.SubmitReportRequest(report=report_pb2.Report(report_id="r1", silo_id="EU-DE"))
    denied = _call(servicer, "SubmitReport", request, "US-NY")
    assert denied.code is grpc.StatusCode.PERMISSION_DENIED
    assert (
        denied.details == "report 'r1': the client certificate identifies 'US-NY', not silo 'EU-DE'"
    )
    # As itself it passes the check and the malformed report is rejected in words.
    malformed = _call(servicer, "SubmitReport", request, "EU-DE")
    assert malformed.code is grpc.StatusCode.INVALID_ARGUMENT
    assert servicer.metrics.reports.labels("rejected")._value.get() == 1


def test_reads_are_not_enforced_yet_and_errors_map_through_the_catalog(
    servicer: AggregatorServicer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _call(servicer, "QueryFairness", pb.FairnessQuery(), "anyone")
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.details == "fairness query: a model id is required"
    bounded = _call(servicer, "QuerySilos", pb.SilosQuery(jurisdiction_glob="x" * 10_000), None)
    assert bounded.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bounded.details.startswith("request.jurisdiction_glob:")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(servicer.handler, "query_silos", broken)
    internal = _call(servicer, "QuerySilos", pb.SilosQuery(), "auditor")
    assert internal.code is grpc.StatusCode.INTERNAL
    assert "secret" not in internal.details
