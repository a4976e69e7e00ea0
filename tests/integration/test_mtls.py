"""mTLS identity: a silo acts only as itself; bad certificates never get in.

(Roles and jurisdictions as attacks: test_identity_attacks.py; every RPC x role: test_rpc_roles.py.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pki import audit_records, make_pki, mtls_aggregator, tls_files

from agent.client import AggregatorClient
from aggregator.query_client import QueryClient
from aggregator.server import RunningServer
from fedgov.errors import ConfigError, ReportRejected, TransportError
from fedgov.spec import MonitoringSpec
from fedgov.tls import TlsFiles, init_trial_pki, issue_certificate, load_ca
from fedgov.wire.retry import Backoff

pytestmark = pytest.mark.integration

FAST = Backoff(initial=0.05, maximum=0.1, max_elapsed=0.5)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return make_pki(tmp_path / "pki")


_files = tls_files


@pytest.fixture
def server(tmp_path: Path, pki: Path) -> Iterator[RunningServer]:
    with mtls_aggregator(tmp_path, pki) as running:
        yield running


def _client(server: RunningServer, files: TlsFiles) -> AggregatorClient:
    return AggregatorClient(f"127.0.0.1:{server.port}", backoff=FAST, tls=files)


def _audit_kinds(tmp_path: Path) -> list[str]:
    return [r["kind"] for r in audit_records(tmp_path)]


def test_silo_registers_as_itself(
    server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    c = _client(server, _files(pki, "EU-DE"))
    try:
        c.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
    finally:
        c.close()
    assert server.handler.store.get_silo("EU-DE") is not None


def test_other_silos_identity_is_denied_and_audited(
    tmp_path: Path, server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    c = _client(server, _files(pki, "US-NY"))
    try:
        with pytest.raises(ReportRejected, match="permission denied.*'US-NY', not silo 'EU-DE'"):
            c.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
    finally:
        c.close()
    assert server.handler.store.get_silo("EU-DE") is None
    assert "identity_denied" in _audit_kinds(tmp_path)
    # The server keeps serving the rightful silo.
    ok = _client(server, _files(pki, "EU-DE"))
    try:
        ok.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
    finally:
        ok.close()


def test_untrusted_certificate_is_rejected(
    tmp_path: Path, server: RunningServer, credit_spec: MonitoringSpec
) -> None:
    other = tmp_path / "other-pki"
    init_trial_pki(other, {"EU-DE": "EU-DE"})  # a different CA signs an EU-DE certificate
    files = TlsFiles(tmp_path / "pki" / "ca.pem", other / "EU-DE.pem", other / "EU-DE.key")
    c = _client(server, files)
    try:
        with pytest.raises(TransportError):
            c.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
    finally:
        c.close()
    assert server.handler.store.get_silo("EU-DE") is None


def test_expired_certificate_is_rejected(
    tmp_path: Path, server: RunningServer, pki: Path, credit_spec: MonitoringSpec
) -> None:
    ca_cert, ca_key = load_ca(pki)
    old = tmp_path / "old"
    old.mkdir()
    issue_certificate(
        ca_cert,
        ca_key,
        "EU-DE",
        old,
        days=1,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
    )
    c = _client(server, TlsFiles(pki / "ca.pem", old / "EU-DE.pem", old / "EU-DE.key"))
    try:
        with pytest.raises(TransportError):
            c.register("EU-DE", "EU-DE", [credit_spec], "sha256:x")
    finally:
        c.close()


def test_no_client_certificate_is_rejected(server: RunningServer, pki: Path) -> None:
    import grpc

    from fedgov.v1 import aggregator_pb2 as pb
    from fedgov.v1 import aggregator_pb2_grpc

    creds = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{server.port}", creds) as ch:
        stub = aggregator_pb2_grpc.AggregatorStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.QueryDecisions(pb.DecisionsQuery(), timeout=3)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_cannot_talk_to_tls_server(server: RunningServer) -> None:
    with QueryClient(f"127.0.0.1:{server.port}", retry_for=0.3) as q, pytest.raises(TransportError):
        q.decisions()


def test_operator_can_query(server: RunningServer, pki: Path) -> None:
    with QueryClient(f"127.0.0.1:{server.port}", tls=_files(pki, "operator")) as q:
        assert q.decisions() == []


def test_missing_or_garbage_certificate_files(tmp_path: Path, pki: Path) -> None:
    with pytest.raises(ConfigError, match="nope.pem"):
        TlsFiles(pki / "ca.pem", tmp_path / "nope.pem", pki / "EU-DE.key").read()
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    with pytest.raises(ConfigError, match="bad.pem: not a PEM certificate"):
        TlsFiles(pki / "ca.pem", bad, pki / "EU-DE.key").read()
