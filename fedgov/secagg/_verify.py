"""Signing a silo's round keys with its certificate key, and checking every relayed advert.

The aggregator relays public keys between silos; if it could swap one, it could sit in
the middle of a pair and unmask a vector. Each key pair is therefore signed with the
silo's TLS certificate key (ECDSA P-256/SHA-256) over the round context, and every peer
checks, for every advert, that the certificate was issued by its CA, is within its
validity, names that silo (``fedgov://silo/<id>``), and signed exactly these keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fedgov.identity import identity_from_certificate
from fedgov.secagg._messages import Advert
from fedgov.secagg._params import PROTOCOL, RoundParams, SecAggError
from fedgov.secagg._primitives import KEY_BYTES, frame

__all__ = ["load_signing_key", "sign_advert", "verify_adverts"]


def _signed_bytes(params: RoundParams, silo_id: str, c_pk: bytes, s_pk: bytes) -> bytes:
    return frame(PROTOCOL, b"advert", params.context(), silo_id, c_pk, s_pk)


def load_signing_key(key_pem: bytes, cert_pem: bytes, silo_id: str) -> ec.EllipticCurvePrivateKey:
    """The silo's certificate key, checked to be P-256 and to match ``cert_pem``."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise SecAggError(f"silo {silo_id!r}: cannot read its certificate or key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SecAggError(f"silo {silo_id!r}: its certificate key must be an ECDSA P-256 key")
    if key.public_key() != cert.public_key():
        raise SecAggError(f"silo {silo_id!r}: the key does not belong to the certificate given")
    return key


def sign_advert(
    params: RoundParams,
    silo_id: str,
    key: ec.EllipticCurvePrivateKey,
    cert_pem: bytes,
    c_pk: bytes,
    s_pk: bytes,
) -> Advert:
    signature = key.sign(_signed_bytes(params, silo_id, c_pk, s_pk), ec.ECDSA(hashes.SHA256()))
    return Advert(silo_id, c_pk, s_pk, signature, cert_pem)


def _load_cas(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        cas = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise SecAggError(f"the CA bundle does not parse ({exc}); give the PEM CA file") from None
    return cas


def _cert_problem(
    cert_pem: bytes, silo_id: str, cas: list[x509.Certificate], now: dt.datetime
) -> str | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return "its certificate is not a PEM certificate"
    issuers = [ca for ca in cas if ca.subject == cert.issuer]
    for ca in issuers:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            return "its certificate's CA is outside its validity period"
        break
    else:
        return "its certificate was not issued by the CA this silo trusts"
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return (
            f"its certificate is outside its validity period ({cert.not_valid_before_utc:%Y-%m-%d} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d})"
        )
    identity = identity_from_certificate(cert)
    if identity.role != "silo" or identity.name != silo_id:
        return f"its certificate names {identity}, not silo {silo_id!r}"
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        public.curve, ec.SECP256R1
    ):
        return "its certificate key is not an ECDSA P-256 key"
    return None


def _advert_problem(
    params: RoundParams, advert: Advert, cas: list[x509.Certificate], now: dt.datetime
) -> str | None:
    if len(advert.c_pk) != KEY_BYTES or len(advert.s_pk) != KEY_BYTES:
        return f"its public keys must be {KEY_BYTES}-byte X25519 keys"
    if advert.c_pk == advert.s_pk:
        return "its two public keys are the same"
    problem = _cert_problem(advert.cert_pem, advert.silo_id, cas, now)
    if problem:
        return problem
    public = x509.load_pem_x509_certificate(advert.cert_pem).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(
            advert.signature,
            _signed_bytes(params, advert.silo_id, advert.c_pk, advert.s_pk),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return "its signature does not verify over this round and these keys (substituted keys?)"
    return None


def verify_adverts(
    params: RoundParams,
    adverts: Sequence[Advert],
    ca_pem: bytes,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Advert]:
    """Every advert checked (cohort member, no duplicate, certificate, signature), by silo.

    Raises :class:`SecAggError` naming the first silo whose advert fails, or if fewer
    than ``params.threshold`` adverts are left to run the round with.
    """
    where = f"round {params.round_id}, advertised keys"
    cas = _load_cas(ca_pem)
    moment = now or dt.datetime.now(dt.UTC)
    out: dict[str, Advert] = {}
    for advert in adverts:
        if not isinstance(advert, Advert):
            raise SecAggError(f"{where}: expected Advert objects, got {type(advert).__name__}")
        if advert.silo_id not in params.cohort:
            raise SecAggError(f"{where}: silo {advert.silo_id!r} is not in the cohort")
        if advert.silo_id in out:
            raise SecAggError(f"{where}: silo {advert.silo_id!r} is advertised twice")
        problem = _advert_problem(params, advert, cas, moment)
        if problem:
            raise SecAggError(f"{where}: refused the advert of silo {advert.silo_id!r}: {problem}")
        out[advert.silo_id] = advert
    if len(out) < params.threshold:
        raise SecAggError(
            f"{where}: {len(out)} silos advertised keys, fewer than the threshold "
            f"{params.threshold}; the round cannot complete"
        )
    return out
