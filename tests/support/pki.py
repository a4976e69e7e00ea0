"""A trial PKI for tests and an mTLS aggregator on it.

``make_pki`` issues the CA, the aggregator's, operator's and auditor's
certificates and one per silo (with the jurisdiction each certificate states,
or None for a site-PKI silo whose jurisdiction an operator approves);
``named_only`` issues a certificate whose Common Name says ``name`` but that
holds no fedgov SAN, as an attacker with a certificate from the same CA would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from aggregator.server import RunningServer, create_server
from aggregator.store import SqliteStore
from fedgov.audit import AuditLog, verify_chain
from fedgov.spec import MonitoringSpec
from fedgov.tls import TlsFiles, init_trial_pki, issue_certificate, load_ca
from support.servers import register

SILOS: Mapping[str, str | None] = {"EU-DE": "EU-DE", "US-NY": "US-NY"}


def make_pki(folder: Path, silos: Mapping[str, str | None] = SILOS) -> Path:
    init_trial_pki(folder, silos)
    return folder


def tls_files(pki: Path, name: str) -> TlsFiles:
    """The files of the certificate ``name`` in ``pki`` (a silo id, operator, auditor)."""
    return TlsFiles(pki / "ca.pem", pki / f"{name}.pem", pki / f"{name}.key")


def named_only(pki: Path, name: str) -> TlsFiles:
    """A certificate from the same CA whose CN is ``name`` and that has no fedgov SAN."""
    ca_cert, ca_key = load_ca(pki)
    out = pki / "named-only"
    out.mkdir(exist_ok=True)
    cert, key = issue_certificate(ca_cert, ca_key, name, out)
    return TlsFiles(pki / "ca.pem", cert, key)


@contextmanager
def mtls_aggregator(
    folder: Path,
    pki: Path,
    spec: MonitoringSpec | None = None,
    silos: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
) -> Iterator[RunningServer]:
    """An aggregator on 127.0.0.1:0 under mTLS from ``pki``, its store and audit log in
    ``folder`` (``audit_path(folder)``); ``silos`` (id -> jurisdiction) registered for
    ``spec`` in process first, if given."""
    running = create_server(
        "127.0.0.1:0",
        SqliteStore(folder / "agg.db"),
        tls=tls_files(pki, "aggregator"),
        audit=AuditLog(audit_path(folder)),
        registry=registry,
    )
    if spec is not None:
        for silo, jurisdiction in (silos or {}).items():
            register(running.handler, spec, [silo], jurisdiction=jurisdiction)
    try:
        yield running
    finally:
        running.stop(grace=1.0)
        running.handler.store.close()


def audit_path(folder: Path) -> Path:
    return folder / "agg.audit.jsonl"


def audit_records(folder: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The aggregator's audit records (of ``kind``), after checking the chain."""
    path = audit_path(folder)
    if not path.exists():
        return []
    assert verify_chain(path).ok
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if kind is None or r["kind"] == kind]
