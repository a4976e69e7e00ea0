"""Signed checkpoints of the aggregator's own audit log (Ed25519).

The aggregator's audit log (:mod:`fedgov.audit`) is a hash chain in a file the
aggregator itself writes, so its head has to be kept where the aggregator
cannot change it afterwards. A :class:`Checkpoint` is that head, ``(seq,
head, time_ms)``, signed with a key only the aggregator holds
(:class:`CheckpointKey`, a PKCS#8 PEM file made on first start). Every
acknowledgement of a report hands the newest checkpoint to the silo, which
keeps it; the aggregator's store keeps them too. Whoever holds the public key
(``fedgov aggregator public-key``) checks a log against checkpoints with
``fedgov audit verify LOG --checkpoints FILE --public-key FILE``: a log cut
or rewritten below a checkpoint no longer matches it, and a forged checkpoint
does not verify.

Checkpoints travel as JSON (:func:`checkpoints_to_json`, read back by
:func:`read_checkpoints`), the signature in base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fedgov.audit import AuditHead
from fedgov.documents import load_document
from fedgov.errors import ConfigError

__all__ = [
    "Checkpoint",
    "CheckpointKey",
    "checkpoints_to_json",
    "key_id",
    "load_public_key",
    "read_checkpoints",
    "signed_bytes",
]

_DOMAIN = "fedgov-audit-checkpoint/v1"


def signed_bytes(seq: int, head: str, time_ms: int) -> bytes:
    """What a checkpoint's signature covers: a domain tag, then seq, head and time."""
    return f"{_DOMAIN}\x1f{seq}\x1f{head}\x1f{time_ms}".encode()


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of sha256 of its 32 raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """The aggregator's audit log had records 0..``seq``, the last hashing to ``head``."""

    seq: int
    head: str
    time_ms: int
    signature: bytes
    key_id: str

    @property
    def audit_head(self) -> AuditHead:
        return AuditHead(self.seq, self.head)

    def verifies(self, public: Ed25519PublicKey) -> bool:
        """Whether ``public`` signed exactly this seq, head and time."""
        if self.key_id != key_id(public):
            return False
        try:
            public.verify(self.signature, signed_bytes(self.seq, self.head, self.time_ms))
        except InvalidSignature:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "head": self.head,
            "time_ms": self.time_ms,
            "signature": base64.b64encode(self.signature).decode(),
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "checkpoint") -> Checkpoint:
        """ConfigError naming ``where`` if ``d`` is not a checkpoint's JSON form."""
        try:
            seq, head, time_ms = d["seq"], d["head"], d["time_ms"]
            signature = base64.b64decode(d["signature"], validate=True)
            kid = d["key_id"]
        except (TypeError, KeyError, binascii.Error) as exc:
            raise ConfigError(
                f"{where}: not a checkpoint ({type(exc).__name__}: {exc}); expected "
                "seq, head, time_ms, signature (base64) and key_id"
            ) from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (seq, time_ms)):
            raise ConfigError(f"{where}: seq and time_ms must be whole numbers")
        if not isinstance(head, str) or not isinstance(kid, str):
            raise ConfigError(f"{where}: head and key_id must be text")
        return cls(seq, head, time_ms, signature, kid)


class CheckpointKey:
    """The aggregator's Ed25519 signing key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    @classmethod
    def generate(cls) -> CheckpointKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: str | Path) -> CheckpointKey:
        """The key in ``path`` (PKCS#8 PEM, unencrypted); a new one written there (mode
        0600) if the file does not exist. ConfigError if it exists but is no Ed25519 key."""
        p = Path(path)
        if not p.exists():
            key = cls.generate()
            p.parent.mkdir(parents=True, exist_ok=True)
            pem = key._private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use that one
                return cls.load_or_create(p)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            return key
        try:
            private = serialization.load_pem_private_key(p.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{p}: not an unencrypted PEM private key ({exc}); point --checkpoint-key at "
                "the aggregator's checkpoint key, or at a path where a new one may be made"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read the checkpoint key: {exc.strerror}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigError(f"{p}: the checkpoint key must be an Ed25519 key")
        return cls(private)

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, head: AuditHead, time_ms: int) -> Checkpoint:
        signature = self._private.sign(signed_bytes(head.seq, head.hash, time_ms))
        return Checkpoint(head.seq, head.hash, time_ms, signature, self.key_id)


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (``fedgov aggregator public-key`` prints one)."""
    try:
        public = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the public key: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path}: not a PEM public key ({exc}); save the output of "
            "`fedgov aggregator public-key` and pass that file"
        ) from None
    if not isinstance(public, Ed25519PublicKey):
        raise ConfigError(f"{path}: the checkpoint public key must be an Ed25519 key")
    return public


def checkpoints_to_json(checkpoints: Iterable[Checkpoint]) -> dict[str, Any]:
    """The JSON document :func:`read_checkpoints` reads."""
    return {"checkpoints": [c.to_dict() for c in checkpoints]}


def read_checkpoints(path: str | Path) -> Sequence[Checkpoint]:
    """Checkpoints from a JSON file: ``{"checkpoints": [...]}`` (from ``fedgov agent
    checkpoints --json`` or ``fedgov aggregator checkpoints --json``) or a bare list."""
    doc = load_document(path, what="checkpoints file", yaml_syntax=False)
    items = doc.get("checkpoints") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a list of checkpoints, or an object holding one")
    return [Checkpoint.from_dict(d, f"{path}: checkpoints[{i}]") for i, d in enumerate(items)]
