"""Attacks on identity over real mTLS: jurisdiction spoofing, reading other silos,
a certificate merely named ``operator``, and a site-PKI silo without an approval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pki import audit_records, make_pki, mtls_aggregator, named_only, tls_files
from support.reports import psi_half, report_of
from support.specs import stats_of

from agent.client import AggregatorClient
from aggregator.query_client import QueryClient
from aggregator.server import RunningServer
from fedgov.cli.main import main
from fedgov.errors import QueryError, ReportRejected
from fedgov.spec import MonitoringSpec
from fedgov.synthetic import credit_data
from fedgov.tls import TlsFiles
from fedgov.wire.retry import Backoff

pytestmark = pytest.mark.integration

FAST = Backoff(initial=0.05, maximum=0.1, max_elapsed=0.5)
PKI_SILOS = {"EU-DE": "EU-DE", "US-NY": "US-NY", "site-1": None}


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return make_pki(tmp_path / "pki", PKI_SILOS)


@pytest.fixture
def server(tmp_path: Path, pki: Path) -> Iterator[RunningServer]:
    with mtls_aggregator(tmp_path, pki) as running:
        yield running


def _agent(server: RunningServer, files: TlsFiles) -> AggregatorClient:
    return AggregatorClient(f"127.0.0.1:{server.port}", backoff=FAST, tls=files)


def _query(server: RunningServer, files: TlsFiles) -> QueryClient:
    return QueryClient(f"127.0.0.1:{server.port}", tls=files, retry_for=0.3)


def _report_as(
    server: RunningServer, pki: Path, spec: MonitoringSpec, silo: str, jurisdiction: str
) -> None:
    """``silo`` registers in ``jurisdiction`` and sends one report, over mTLS as itself."""
    client = _agent(server, tls_files(pki, silo))
    try:
        client.register(silo, jurisdiction, [spec], "sha256:x")
        stats = stats_of(spec, credit_data(400, seed=len(silo)))
        report = report_of(
            spec, stats, f"r-{silo}", silo=silo, jurisdiction=jurisdiction, metrics=psi_half()
        )
        client.submit(report)
    finally:
        client.close()


def test_jurisdiction_spoofing_is_denied_and_audited(
    tmp_path: Path, server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    eu = _agent(server, tls_files(pki, "EU-DE"))
    try:
        with pytest.raises(ReportRejected, match="in jurisdiction 'EU-DE', not 'US-NY'"):
            eu.register("EU-DE", "US-NY", [credit_spec], "sha256:x")
        assert server.handler.store.get_silo("EU-DE") is None
        # As itself it registers; a later attempt to move is refused, the silo stays put.
        eu.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
        with pytest.raises(ReportRejected, match="permission denied"):
            eu.register("EU-DE", "US-NY", [credit_spec], "sha256:x")
        # A report claiming the other jurisdiction is rejected too.
        stats = stats_of(credit_spec, credit_data(300, seed=1))
        with pytest.raises(ReportRejected, match="differs from the silo's registered"):
            eu.submit(report_of(credit_spec, stats, "spoof", jurisdiction="US-NY"))
    finally:
        eu.close()
    silo = server.handler.store.get_silo("EU-DE")
    assert silo is not None and silo.jurisdiction == "EU-DE"
    refused = audit_records(tmp_path, "identity_denied")
    assert [r["claimed"] for r in refused] == ["jurisdiction 'US-NY'"] * 2
    assert refused[0]["peer"] == "silo 'EU-DE' (EU-DE)" and refused[0]["call"] == "register"
    # US-* compliance figures hold US-NY alone.
    _report_as(server, pki, credit_spec, "US-NY", "US-NY")
    with _query(server, tls_files(pki, "operator")) as q:
        us = q.fairness(credit_spec.model_id, jurisdiction_glob="US-*")
    assert us.silos == ("US-NY",) and us.jurisdictions == ("US-NY",)


def test_an_empty_jurisdiction_is_taken_from_the_certificate(
    server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    client = _agent(server, tls_files(pki, "US-NY"))
    try:
        client.register("US-NY", "", [credit_spec], "sha256:x")
    finally:
        client.close()
    silo = server.handler.store.get_silo("US-NY")
    assert silo is not None and silo.jurisdiction == "US-NY"


def test_a_silo_reads_only_its_own_rows(
    tmp_path: Path, server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    for silo in ("EU-DE", "US-NY"):
        _report_as(server, pki, credit_spec, silo, silo)
    with _query(server, tls_files(pki, "US-NY")) as us:
        assert {r.silo for r in us.decisions()} == {"US-NY"}
        assert {r.silo for r in us.decisions(jurisdiction_glob="EU-*")} == set()
        assert [r.silo for r in us.silos()] == ["US-NY"]
        history = us.history(credit_spec.model_id, "psi", feature="income")
        assert {p.silo for p in history} == {"US-NY"}
        assert {r.silo for r in us.drift(0.2)} == {"US-NY"}
        with pytest.raises(QueryError, match="identifies 'US-NY', not silo 'EU-DE'"):
            us.decisions(silo_id="EU-DE")
        with pytest.raises(QueryError, match="only a certificate with the role"):
            us.fairness(credit_spec.model_id, jurisdiction_glob="EU-*")
        with pytest.raises(QueryError, match="permission denied"):
            us.central()
    with _query(server, tls_files(pki, "auditor")) as auditor:
        assert {r.silo for r in auditor.decisions()} == {"EU-DE", "US-NY"}
        assert {r.silo for r in auditor.drift(0.2)} == {"EU-DE", "US-NY"}
        assert auditor.fairness(credit_spec.model_id).silos == ("EU-DE", "US-NY")
        with pytest.raises(QueryError, match="role operator"):
            auditor.promote(credit_spec.model_id, credit_spec.model_version)
    assert len(audit_records(tmp_path, "identity_denied")) == 4


@pytest.mark.parametrize("name", ["operator", "auditor"])
def test_a_certificate_only_named_like_a_role_gains_nothing(
    tmp_path: Path, server: RunningServer, pki: Path, credit_spec: MonitoringSpec, name: str
) -> None:
    _report_as(server, pki, credit_spec, "EU-DE", "EU-DE")
    with _query(server, named_only(pki, name)) as fake:
        with pytest.raises(QueryError, match="only a certificate with the role operator"):
            fake.promote(credit_spec.model_id, credit_spec.model_version, "attack")
        with pytest.raises(QueryError, match="permission denied"):
            fake.rollback(credit_spec.model_id)
        with pytest.raises(QueryError, match="permission denied"):
            fake.decisions()
        with pytest.raises(QueryError, match="permission denied"):
            fake.approve_silo("EU-DE", "US-NY")
    refused = audit_records(tmp_path, "identity_denied")
    assert len(refused) == 4
    assert {r["peer"] for r in refused} == {f"{name!r} (no fedgov role in its certificate)"}
    assert not audit_records(tmp_path, "model_promoted")
    assert server.handler.store.get_silo("EU-DE").jurisdiction == "EU-DE"  # type: ignore[union-attr]


def test_a_site_pki_silo_registers_only_once_an_operator_approved_it(
    tmp_path: Path,
    server: RunningServer,
    pki: Path,
    credit_spec: MonitoringSpec,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = _agent(server, tls_files(pki, "site-1"))
    try:
        with pytest.raises(ReportRejected, match="fedgov silo approve site-1"):
            site.register("site-1", "EU-FR", [credit_spec], "sha256:x")
        with _query(server, tls_files(pki, "auditor")) as auditor:
            with pytest.raises(QueryError, match="role operator"):
                auditor.approve_silo("site-1", "EU-FR")
        address = f"127.0.0.1:{server.port}"
        approve = ["silo", "approve", "site-1", "--aggregator", address, "--tls-dir", str(pki)]
        assert main([*approve, "--jurisdiction", "EU-FR", "--reason", "contract 7", "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["silo"] == "site-1" and shown["jurisdiction"] == "EU-FR"
        assert shown["previous"] is None
        with pytest.raises(ReportRejected, match="in jurisdiction 'EU-FR', not 'EU-DE'"):
            site.register("site-1", "EU-DE", [credit_spec], "sha256:x")
        site.register("site-1", "EU-FR", [credit_spec], "sha256:x")
        # Only another operator action moves it; the registered silo moves at once.
        assert main([*approve, "--jurisdiction", "EU-IE"]) == 0
        assert "site-1: jurisdiction EU-IE (was EU-FR)" in capsys.readouterr().out
        silo = server.handler.store.get_silo("site-1")
        assert silo is not None and silo.jurisdiction == "EU-IE"
        with pytest.raises(ReportRejected, match="not 'EU-FR'"):
            site.register("site-1", "EU-FR", [credit_spec], "sha256:x")
    finally:
        site.close()
    approvals = audit_records(tmp_path, "silo_jurisdiction_approved")
    assert [(a["jurisdiction"], a["previous"]) for a in approvals] == [
        ("EU-FR", None),
        ("EU-IE", "EU-FR"),
    ]
    assert approvals[0]["by"] == "operator 'operator'" and approvals[0]["reason"] == "contract 7"
    assert len(audit_records(tmp_path, "identity_denied")) == 4


def test_an_approval_that_contradicts_the_certificate_blocks_registration(
    server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    with _query(server, tls_files(pki, "operator")) as op:
        op.approve_silo("EU-DE", "US-NY", "mistake")
    client = _agent(server, tls_files(pki, "EU-DE"))
    try:
        with pytest.raises(ReportRejected, match="states jurisdiction 'EU-DE' but an operator"):
            client.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
    finally:
        client.close()
    assert server.handler.store.get_silo("EU-DE") is None
