"""The RPC -> roles table covers the service, and the decorator checks and translates."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.pki import make_pki
from support.servers import registered_handler

from aggregator._rpc import RPC_ROLES
from aggregator.servicer import AggregatorServicer
from fedgov.audit import AuditLog
from fedgov.spec import MonitoringSpec
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import report_pb2


class Aborted(Exception):
    pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


class FakeContext:
    """What the servicer uses of a grpc.ServicerContext; abort raises like gRPC's.

    ``peer`` names a certificate of the trial PKI, presented as gRPC hands it over."""

    def __init__(self, pki: Path, peer: str | None) -> None:
        self.pem = (pki / f"{peer}.pem").read_bytes() if peer else None
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self.pem]} if self.pem else {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Aborted(details)


@pytest.fixture
def servicer(tmp_path: Path, credit_spec: MonitoringSpec, pki: Path) -> AggregatorServicer:
    handler = registered_handler(
        tmp_path / "a.db", credit_spec, audit=AuditLog(tmp_path / "audit.jsonl")
    )
    return AggregatorServicer(handler, require_identity=True)


Call = Callable[[str, Any, str | None], FakeContext]


@pytest.fixture
def call(servicer: AggregatorServicer, pki: Path) -> Call:
    """Call ``rpc`` of the servicer as the holder of ``peer``'s certificate."""

    def make(rpc: str, request: Any, peer: str | None) -> FakeContext:
        context = FakeContext(pki, peer)

        async def run() -> None:  # the methods are coroutines (grpc.aio)
            answer = getattr(servicer, rpc)(request, context)
            if inspect.isasyncgen(answer):
                async for _ in answer:
                    pass
            else:
                await answer

        try:
            asyncio.run(run())
        except Aborted:
            pass
        return context

    return make


def test_every_rpc_of_the_service_has_one_row_and_is_wrapped() -> None:
    service = pb.DESCRIPTOR.services_by_name["Aggregator"]
    assert set(RPC_ROLES) == {m.name for m in service.methods}
    for name in RPC_ROLES:
        assert hasattr(getattr(AggregatorServicer, name), "__wrapped__"), name
    assert {r for a in RPC_ROLES.values() for r in a.roles} == {"silo", "operator", "auditor"}


def test_only_the_operator_role_may_promote(servicer: AggregatorServicer, call: Call) -> None:
    request = pb.PromoteRequest(model_id="credit-risk", version="1.0.0")
    for n, peer in enumerate(["EU-DE", "auditor"], start=1):
        denied = call("PromoteModel", request, peer)
        assert denied.code is grpc.StatusCode.PERMISSION_DENIED
        assert denied.details == "promote: only a certificate with the role operator may do this"
        assert servicer.metrics.denied._value.get() == n
    audit = servicer.handler.audit
    assert audit is not None
    records = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [r["kind"] for r in records[-2:]] == ["identity_denied"] * 2
    assert records[-2]["claimed"] == "role operator"
    assert records[-2]["peer"] == "silo 'EU-DE' (EU-DE)"
    assert records[-1]["peer"] == "auditor 'auditor'"
    assert call("PromoteModel", request, "operator").code is None


def test_a_silo_acts_only_as_itself_even_inside_a_report(
    servicer: AggregatorServicer, call: Call
) -> None:
    request = pb.SubmitReportRequest(report=report_pb2.Report(report_id="r1", silo_id="EU-DE"))
    denied = call("SubmitReport", request, "US-NY")
    assert denied.code is grpc.StatusCode.PERMISSION_DENIED
    assert (
        denied.details == "report 'r1': the client certificate identifies 'US-NY', not silo 'EU-DE'"
    )
    # As itself it passes the check and the malformed report is rejected in words.
    malformed = call("SubmitReport", request, "EU-DE")
    assert malformed.code is grpc.StatusCode.INVALID_ARGUMENT
    assert servicer.metrics.reports.labels("rejected")._value.get() == 1


def test_a_silos_read_is_scoped_to_itself(servicer: AggregatorServicer, call: Call) -> None:
    request = pb.SilosQuery()
    assert call("QuerySilos", request, "US-NY").code is None
    assert request.silo_id == "US-NY"  # filled in: the answer holds its own row only
    other = call("QuerySilos", pb.SilosQuery(silo_id="EU-DE"), "US-NY")
    assert other.code is grpc.StatusCode.PERMISSION_DENIED
    everyone = pb.SilosQuery()
    assert call("QuerySilos", everyone, "auditor").code is None
    assert everyone.silo_id == ""


def test_errors_map_through_the_catalog(
    servicer: AggregatorServicer, call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = call("QueryFairness", pb.FairnessQuery(), "auditor")
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.details == "fairness query: a model id is required"
    bounded = call("QuerySilos", pb.SilosQuery(jurisdiction_glob="x" * 10_000), "operator")
    assert bounded.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bounded.details.startswith("request.jurisdiction_glob:")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(servicer.handler, "query_silos", broken)
    internal = call("QuerySilos", pb.SilosQuery(), "auditor")
    assert internal.code is grpc.StatusCode.INTERNAL
    assert "secret" not in internal.details
