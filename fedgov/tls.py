"""mTLS material: a trial PKI (`fedgov certs init`) and gRPC credentials.

Identity is the certificate, read from its URI SANs (:mod:`fedgov.identity`),
never from its Common Name: ``fedgov://silo/EU-DE?jurisdiction=EU-DE`` for a
silo, ``fedgov://role/operator`` and ``fedgov://role/auditor`` for people. So
a silo cannot report for another one, nor move itself into another
jurisdiction, and a certificate merely *named* ``operator`` gains nothing. In
production, certificates come from the site's PKI with the same SANs (the
jurisdiction may be left out; the aggregator's operator then approves it).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from fedgov.errors import ConfigError
from fedgov.identity import Identity, identity_from_pem, role_uri, silo_uri

__all__ = [
    "NodeKey",
    "TlsFiles",
    "channel_credentials",
    "init_trial_pki",
    "issue_certificate",
    "issue_node_keys",
    "issue_server_certificate",
    "peer_identity",
    "server_credentials",
    "write_node_key",
]

# Files of the PKI's own: a silo of one of these names would overwrite them.
RESERVED_NAMES = frozenset({"ca", "aggregator", "operator", "auditor"})


@dataclass(frozen=True)
class TlsFiles:
    """A CA, a certificate and its key; ``server_name``: the name a server's certificate
    must hold, when a client checks it against something else than the address it dials
    (several aggregator replicas behind one name, :func:`fedgov.wire.channel.open_channel`)."""

    ca: Path
    cert: Path
    key: Path
    server_name: str | None = None

    def read(self) -> tuple[bytes, bytes, bytes]:
        out = []
        for what, p in (("CA certificate", self.ca), ("certificate", self.cert), ("key", self.key)):
            try:
                out.append(Path(p).read_bytes())
            except OSError as exc:
                raise ConfigError(
                    f"{p}: cannot read the {what} ({exc.strerror}); create a trial PKI with "
                    "`fedgov certs init` or point to your site's files"
                ) from None
        _check_pem(self.ca, out[0], "CERTIFICATE")
        _check_pem(self.cert, out[1], "CERTIFICATE")
        _check_pem(self.key, out[2], "PRIVATE KEY")
        return out[0], out[1], out[2]


def _check_pem(path: Path, data: bytes, kind: str) -> None:
    if f"-----BEGIN {kind}".encode() not in data and f"-----BEGIN RSA {kind}".encode() not in data:
        raise ConfigError(f"{path}: not a PEM {kind.lower()} (no '-----BEGIN {kind}' block)")


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    ca, cert, key = files.read()
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    ca, cert, key = files.read()
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def peer_identity(context: grpc.ServicerContext) -> Identity | None:
    """What an mTLS peer's certificate states (:mod:`fedgov.identity`); None on plaintext."""
    pems = context.auth_context().get("x509_pem_cert") or []
    if not pems:
        return None
    return _identity(bytes(pems[0]))


@functools.lru_cache(maxsize=4096)
def _identity(pem: bytes) -> Identity:
    """Parsed once per certificate: every call of a peer presents the same one."""
    return identity_from_pem(pem)


# -- a trial PKI ---------------------------------------------------------------------
def _key() -> object:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: object, path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    data = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def issue_certificate(
    ca_cert: object,
    ca_key: object,
    common_name: str,
    out_dir: Path,
    *,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    uris: Sequence[str] = (),
    days: int = 30,
    not_before: dt.datetime | None = None,
    server: bool = False,
) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _key()
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.UniformResourceIdentifier(u) for u in uris]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)  # type: ignore[attr-defined]
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    from cryptography.hazmat.primitives import serialization

    safe = common_name.replace("/", "_")
    cert_path, key_path = out_dir / f"{safe}.pem", out_dir / f"{safe}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


def _new_ca(out_dir: Path, days: int) -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedgov trial CA")])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (out_dir / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, out_dir / "ca.key")
    return cert, key


def load_ca(out_dir: Path) -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((out_dir / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((out_dir / "ca.key").read_bytes(), password=None)
    return cert, key


def init_trial_pki(
    out_dir: str | Path,
    silos: Mapping[str, str | None],
    *,
    aggregator_hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    days: int = 30,
) -> dict[str, Path]:
    """A CA, an aggregator certificate, an operator's, an auditor's and one per silo.

    ``silos`` maps each silo id to the jurisdiction its certificate states, or
    to None for a certificate that states none (the aggregator's operator then
    approves the silo's jurisdiction: ``fedgov silo approve``).
    """
    out = Path(out_dir)
    for silo, jurisdiction in silos.items():
        if silo in RESERVED_NAMES:  # their files would overwrite the PKI's own
            raise ConfigError(f"silo id {silo!r}: reserved for the PKI's own files; rename it")
        try:
            silo_uri(silo, jurisdiction)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    try:
        return _init_trial_pki(out, silos, aggregator_hosts, days)
    except OSError as exc:
        raise ConfigError(
            f"{out}: cannot write the PKI there ({exc.strerror or exc}); "
            "give a folder you can write, new or holding an earlier trial PKI"
        ) from None


def _init_trial_pki(
    out: Path, silos: Mapping[str, str | None], aggregator_hosts: Sequence[str], days: int
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    if (out / "ca.pem").exists():
        ca_cert, ca_key = load_ca(out)
    else:
        ca_cert, ca_key = _new_ca(out, days * 4)
    dns = [h for h in aggregator_hosts if not _is_ip(h)]
    ips = [h for h in aggregator_hosts if _is_ip(h)]
    written = {"ca": out / "ca.pem"}
    written["aggregator"], _ = issue_certificate(
        ca_cert, ca_key, "aggregator", out, dns=dns, ips=ips, days=days, server=True
    )
    for role in ("operator", "auditor"):
        written[role], _ = issue_certificate(
            ca_cert, ca_key, role, out, uris=[role_uri(role)], days=days
        )
    for silo, jurisdiction in silos.items():
        written[silo], _ = issue_certificate(
            ca_cert, ca_key, silo, out, uris=[silo_uri(silo, jurisdiction)], days=days
        )
    return written


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- Flower SuperNode keys ------------------------------------------------------------
@dataclass(frozen=True)
class NodeKey:
    """A silo's Flower node key: ``<silo>.node`` (private) and ``<silo>.node.pub``.

    Flower 1.42's SuperNode authentication signs each Fleet call with this
    key (``flower-supernode --auth-supernode-private-key``, OpenSSH private
    format); the SuperLink accepts only keys registered with it (``flwr
    supernode register <silo>.node.pub``, OpenSSH public format). It is a
    key of its own, not the silo's TLS key: Flower reads only OpenSSH
    files and only NIST EC curves.
    """

    private: Path
    public: Path

    @classmethod
    def of(cls, directory: str | Path, name: str) -> NodeKey:
        d = Path(directory)
        return cls(d / f"{name}.node", d / f"{name}.node.pub")


def write_node_key(directory: str | Path, name: str) -> NodeKey:
    """A new ECDSA P-384 key pair for Flower node authentication (kept if present)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not name or "/" in name:
        raise ConfigError(f"node key name {name!r}: must be non-empty and contain no '/'")
    key = NodeKey.of(directory, name)
    if key.private.exists() and key.public.exists():
        return key
    Path(directory).mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP384R1())
    key.private.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key.private.chmod(0o600)
    key.public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + f" fedgov-node-{name}\n".encode()
    )
    return key


def issue_node_keys(out_dir: str | Path, silos: Sequence[str]) -> dict[str, Path]:
    """One Flower node key pair per silo in ``out_dir`` (beside the trial PKI):
    ``{"<silo> node": path of <silo>.node.pub, ...}``; existing pairs are kept."""
    try:
        return {f"{s} node": write_node_key(out_dir, s).public for s in dict.fromkeys(silos)}
    except OSError as exc:
        raise ConfigError(
            f"{out_dir}: cannot write the Flower node keys there ({exc.strerror or exc})"
        ) from None


def issue_server_certificate(
    out_dir: str | Path, name: str, hosts: Sequence[str], *, days: int = 30
) -> TlsFiles:
    """``<name>.pem``/``.key``: a server certificate for ``hosts`` (its SANs) from the
    trial CA in ``out_dir``, made there first if missing; the CA, cert and key paths.

    For a server beside the aggregator's, e.g. Flower's SuperLink: its clients
    (SuperNodes, the flwr CLI, the SuperExec it starts on its own address)
    check that the certificate names the host they dial.
    """
    out = Path(out_dir)
    if name in ("ca",) or not name or "/" in name:
        raise ConfigError(f"server certificate name {name!r}: reserved or not a file name")
    try:
        out.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key = load_ca(out) if (out / "ca.pem").exists() else _new_ca(out, days * 4)
        dns = [h for h in hosts if not _is_ip(h)]
        ips = [h for h in hosts if _is_ip(h)]
        cert, key = issue_certificate(
            ca_cert, ca_key, name, out, dns=dns, ips=ips, days=days, server=True
        )
    except OSError as exc:
        raise ConfigError(
            f"{out}: cannot write the {name} certificate there ({exc.strerror or exc})"
        ) from None
    return TlsFiles(out / "ca.pem", cert, key)
