"""The Flower leg's key material and flags, without starting Flower (see
tests/integration/test_flower.py for the processes)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from fedgov.errors import ConfigError
from fedgov.federated import TrainingError
from fedgov.federated._fab import node_ids_value, parse_node_ids
from fedgov.federated.nodes import SuperLinkProcess, SuperNodeProcess
from fedgov.tls import NodeKey, issue_node_keys, issue_server_certificate, write_node_key


def test_a_node_key_is_what_flower_reads(tmp_path: Path) -> None:
    key = write_node_key(tmp_path, "EU-DE")
    assert key == NodeKey(tmp_path / "EU-DE.node", tmp_path / "EU-DE.node.pub")
    private = load_ssh_private_key(key.private.read_bytes(), None)  # as flower-supernode does
    public = load_ssh_public_key(key.public.read_bytes())  # as `flwr supernode register` does
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(private.curve, ec.SECP384R1)  # a NIST curve: the SuperLink checks
    assert public == private.public_key()
    assert key.private.stat().st_mode & 0o077 == 0


def test_node_keys_are_kept_not_replaced(tmp_path: Path) -> None:
    first = issue_node_keys(tmp_path, ["EU-DE", "US-NY", "EU-DE"])
    assert first == {
        "EU-DE node": tmp_path / "EU-DE.node.pub",
        "US-NY node": tmp_path / "US-NY.node.pub",
    }
    before = (tmp_path / "EU-DE.node.pub").read_bytes()
    issue_node_keys(tmp_path, ["EU-DE"])  # an enrolled key must not change under a silo
    assert (tmp_path / "EU-DE.node.pub").read_bytes() == before


@pytest.mark.parametrize("name", ["", "a/b"])
def test_a_node_key_name_must_be_a_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="node key name"):
        write_node_key(tmp_path, name)


def test_the_superlink_certificate_names_its_host_and_chains_to_the_ca(tmp_path: Path) -> None:
    tls = issue_server_certificate(tmp_path, "superlink", ["10.1.2.3", "link.example"])
    cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert sans.get_values_for_type(x509.DNSName) == ["link.example"]
    ctx = ssl.create_default_context(cafile=str(tls.ca))  # loads: a CA certificate
    ctx.load_cert_chain(str(tls.cert), str(tls.key))  # the key matches the certificate
    again = issue_server_certificate(tmp_path, "superlink", ["127.0.0.1"])
    assert again.ca.read_bytes() == tls.ca.read_bytes()  # the existing CA is reused


def test_node_ids_travel_as_text(tmp_path: Path) -> None:
    big = 18_000_000_000_000_000_000  # Flower's ids are uint64: beyond a TOML integer
    assert node_ids_value([big, 7]) == f"7,{big}"
    assert parse_node_ids(node_ids_value([big, 7])) == {7, big}
    assert parse_node_ids("") == frozenset()
    with pytest.raises(ValueError, match="node-ids 'a,b'"):
        parse_node_ids("a,b")


def test_both_ends_are_plaintext_only_without_certificates(tmp_path: Path) -> None:
    tls = issue_server_certificate(tmp_path, "superlink", ["127.0.0.1"])
    link = SuperLinkProcess(workdir=tmp_path / "link", tls=tls)
    assert link._security_flags() == [
        "--ssl-ca-certfile",
        str(tls.ca),
        "--ssl-certfile",
        str(tls.cert),
        "--ssl-keyfile",
        str(tls.key),
        "--enable-supernode-auth",
    ]
    assert SuperLinkProcess(workdir=tmp_path / "plain")._security_flags() == ["--insecure"]
    key = write_node_key(tmp_path, "a")
    node = SuperNodeProcess(
        "a", "x:1", {}, workdir=tmp_path, root_certificates=tls.ca, node_key=key
    )
    assert node._security_flags() == [
        "--root-certificates",
        str(tls.ca),
        "--auth-supernode-private-key",
        str(key.private),
    ]
    with pytest.raises(TrainingError, match="a node key needs TLS"):
        SuperNodeProcess("a", "x:1", {}, workdir=tmp_path, node_key=key)._security_flags()


def test_enrolling_needs_tls_and_the_key_file(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="without TLS, so without node authentication"):
        SuperLinkProcess(workdir=tmp_path / "plain").enroll("a", tmp_path / "a.node.pub")
    tls = issue_server_certificate(tmp_path, "superlink", ["127.0.0.1"])
    with pytest.raises(TrainingError, match=r"silo 'a' has no Flower node key .*certs init"):
        SuperLinkProcess(workdir=tmp_path / "link", tls=tls).enroll("a", tmp_path / "a.node.pub")
