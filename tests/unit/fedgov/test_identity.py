"""Identity, role and jurisdiction come from fedgov URI SANs, never from the Common Name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedgov.errors import ConfigError
from fedgov.identity import Identity, identity_from_pem, role_uri, silo_uri
from fedgov.tls import init_trial_pki, issue_certificate, load_ca


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    init_trial_pki(folder, {"EU-DE": "EU-DE", "site-1": None})
    return folder


def _issued(pki: Path, cn: str, uris: list[str]) -> Identity:
    ca_cert, ca_key = load_ca(pki)
    out = pki / "extra"
    out.mkdir(exist_ok=True)
    cert, _key = issue_certificate(ca_cert, ca_key, cn, out, uris=uris)
    return identity_from_pem(cert.read_bytes())


def test_trial_pki_states_silos_jurisdictions_and_roles(pki: Path) -> None:
    def read(name: str) -> Identity:
        return identity_from_pem((pki / f"{name}.pem").read_bytes())

    assert read("EU-DE") == Identity("EU-DE", "silo", "EU-DE")
    assert read("site-1") == Identity("site-1", "silo", None)
    assert read("operator") == Identity("operator", "operator")
    assert read("auditor") == Identity("auditor", "auditor")
    assert read("aggregator").role is None


@pytest.mark.parametrize("cn", ["operator", "auditor", "EU-DE"])
def test_a_common_name_alone_grants_nothing(pki: Path, cn: str) -> None:
    assert _issued(pki, cn, []) == Identity(cn, None)


def test_the_san_not_the_cn_names_the_silo(pki: Path) -> None:
    found = _issued(pki, "operator", [silo_uri("US-NY", "US-NY")])
    assert found == Identity("US-NY", "silo", "US-NY")
    assert _issued(pki, "EU-DE", [role_uri("auditor")]).role == "auditor"


@pytest.mark.parametrize(
    "uris",
    [
        ["fedgov://silo/EU-DE", "fedgov://role/operator"],  # two claims: none is believed
        ["fedgov://silo/EU-DE", "fedgov://silo/US-NY"],
        ["fedgov://role/root"],
        ["fedgov://silo/EU-DE?jurisdiction=EU-DE&jurisdiction=US-NY"],
        ["fedgov://silo/EU-DE?role=operator"],
        ["fedgov://silo/EU%2FDE"],
        ["fedgov://silo/"],
        ["fedgov://role/operator?x=1"],
        ["fedgov://silo:99999x/EU-DE"],
        ["fedgov://silo/EU-DE#frag"],
    ],
)
def test_ambiguous_or_malformed_sans_grant_no_role(pki: Path, uris: list[str]) -> None:
    assert _issued(pki, "operator", uris).role is None


def test_other_uri_sans_are_ignored(pki: Path) -> None:
    found = _issued(pki, "x", ["spiffe://site/ns/fedgov", silo_uri("EU-FR", "EU-FR")])
    assert found == Identity("EU-FR", "silo", "EU-FR")


def test_uris_round_trip_and_refuse_bad_names() -> None:
    assert silo_uri("EU-DE", "EU-DE") == "fedgov://silo/EU-DE?jurisdiction=EU-DE"
    assert role_uri("operator") == "fedgov://role/operator"
    with pytest.raises(ValueError, match="silo id"):
        silo_uri("EU/DE")
    with pytest.raises(ValueError, match="jurisdiction"):
        silo_uri("EU-DE", "")


def test_pki_refuses_reserved_and_malformed_silo_names(tmp_path: Path) -> None:
    for bad in ("operator", "auditor", "ca", "aggregator"):
        with pytest.raises(ConfigError, match="reserved"):
            init_trial_pki(tmp_path / bad, {bad: "EU-DE"})
    with pytest.raises(ConfigError, match="jurisdiction"):
        init_trial_pki(tmp_path / "j", {"EU-DE": "EU DE"})
    assert not any(tmp_path.iterdir())
