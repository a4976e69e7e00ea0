"""Who a certificate says its holder is: name, role and jurisdiction, from dedicated fields.

Identity travels in URI subject alternative names, never in the Common Name
(a silo named ``operator`` or ``auditor`` gains nothing by its name):

- ``fedgov://silo/EU-DE?jurisdiction=EU-DE``: the silo ``EU-DE`` in the
  jurisdiction ``EU-DE``. A site's own PKI may leave the jurisdiction out
  (``fedgov://silo/EU-DE``); the aggregator then takes it from its
  operator-approved registry (``fedgov silo approve``).
- ``fedgov://role/operator``, ``fedgov://role/auditor``: the operator and
  auditor roles (the Common Name is then only a display name).

A certificate with none of these, with more than one, or with a malformed one
states no role: :attr:`Identity.role` is ``None`` and it may call nothing that
the RPC table reserves to a role. ``silo_uri`` and ``role_uri`` write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fedgov.limits import identifier_problem

__all__ = [
    "ROLES",
    "Identity",
    "Role",
    "identity_from_certificate",
    "identity_from_pem",
    "role_uri",
    "silo_uri",
]

Role = Literal["silo", "operator", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
_SCHEME = "fedgov"


@dataclass(frozen=True)
class Identity:
    """The holder of a certificate: ``name`` is the silo id for a silo, else the CN."""

    name: str
    role: Role | None
    jurisdiction: str | None = None

    def __str__(self) -> str:
        if self.role == "silo":
            return f"silo {self.name!r} ({self.jurisdiction or 'jurisdiction not certified'})"
        if self.role is None:
            return f"{self.name!r} (no fedgov role in its certificate)"
        return f"{self.role} {self.name!r}"


def silo_uri(silo_id: str, jurisdiction: str | None = None) -> str:
    """The URI SAN naming ``silo_id`` (and its jurisdiction, if the certificate states it)."""
    _check_name("silo id", silo_id)
    uri = f"{_SCHEME}://silo/{quote(silo_id, safe='')}"
    if jurisdiction is not None:
        _check_name("jurisdiction", jurisdiction)
        uri += f"?jurisdiction={quote(jurisdiction, safe='')}"
    return uri


def role_uri(role: Literal["operator", "auditor"]) -> str:
    """The URI SAN granting ``role``."""
    if role not in ("operator", "auditor"):
        raise ValueError(f"role {role!r}: a certificate grants operator or auditor")
    return f"{_SCHEME}://role/{role}"


def _check_name(what: str, text: str) -> None:
    problem = identifier_problem(text)
    if problem:
        raise ValueError(f"{what}: {problem}")


def _claim(uri: str) -> tuple[Role, str, str | None] | None:
    """(role, name, jurisdiction) of one fedgov URI; None if it is not a well-formed one."""
    try:
        parts = urlsplit(uri)
        if parts.scheme != _SCHEME or parts.fragment or parts.username or parts.port:
            return None
    except ValueError:  # a port that is not a number
        return None
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if parts.hostname == "silo" and not identifier_problem(path):
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        if set(query) - {"jurisdiction"} or len(query.get("jurisdiction", ())) > 1:
            return None
        (jurisdiction,) = query.get("jurisdiction", [None])
        if jurisdiction is not None and identifier_problem(jurisdiction):
            return None
        return "silo", path, jurisdiction
    if parts.hostname == "role" and path in ("operator", "auditor") and not parts.query:
        return path, path, None  # type: ignore[return-value]
    return None


def identity_from_certificate(cert: object) -> Identity:
    """The identity a parsed :class:`cryptography.x509.Certificate` states."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    assert isinstance(cert, x509.Certificate)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    ours = [u for u in uris if u.lower().startswith(f"{_SCHEME}:")]
    claims = [_claim(u) for u in ours]
    if len(claims) != 1 or claims[0] is None:
        return Identity(cn, None)  # none, ambiguous or malformed: no role
    role, name, jurisdiction = claims[0]
    return Identity(name if role == "silo" else (cn or name), role, jurisdiction)


def identity_from_pem(pem: bytes) -> Identity:
    """The identity stated by a PEM certificate (as gRPC's auth context hands it over)."""
    from cryptography import x509

    return identity_from_certificate(x509.load_pem_x509_certificate(pem))
