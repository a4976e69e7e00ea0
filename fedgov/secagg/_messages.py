"""What the aggregator stores and relays: adverts and maps of per-silo byte strings.

Both encode to JSON with base64 byte fields (``to_dict``/``to_bytes`` and back), to go
into SQL rows and protobuf ``bytes`` fields unchanged. Decoding checks shapes only;
:func:`fedgov.secagg.verify_adverts` checks what an advert claims.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fedgov.secagg._params import SecAggError

__all__ = ["Advert", "decode_share_map", "encode_share_map"]

_BYTES_FIELDS = ("c_pk", "s_pk", "signature", "cert_pem")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise SecAggError(f"{where}: expected a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecAggError(f"{where}: not valid base64") from None


def _json(data: bytes | str, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SecAggError(f"{what}: not JSON ({exc})") from None


@dataclass(frozen=True)
class Advert:
    """A silo's two X25519 public keys for one round, signed with its certificate key.

    ``c_pk`` encrypts the shares sent to peers, ``s_pk`` derives the pairwise masks;
    ``signature`` is ECDSA P-256/SHA-256 over the round context, the silo id and both
    keys; ``cert_pem`` is the silo's certificate, which peers check against their CA.
    """

    silo_id: str
    c_pk: bytes
    s_pk: bytes
    signature: bytes
    cert_pem: bytes

    def to_dict(self) -> dict[str, str]:
        return {"silo_id": self.silo_id, **{f: _b64(getattr(self, f)) for f in _BYTES_FIELDS}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Advert:
        if not isinstance(data, Mapping) or set(data) != {"silo_id", *_BYTES_FIELDS}:
            raise SecAggError(
                f"advert: expected the keys silo_id, {', '.join(_BYTES_FIELDS)}; got "
                f"{sorted(data) if isinstance(data, Mapping) else type(data).__name__}"
            )
        silo = data["silo_id"]
        if not isinstance(silo, str):
            raise SecAggError("advert: silo_id must be a string")
        fields = {f: _unb64(data[f], f"advert of silo {silo!r}, field {f}") for f in _BYTES_FIELDS}
        return cls(silo_id=silo, **fields)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Advert:
        return cls.from_dict(_json(data, "advert"))


def encode_share_map(items: Mapping[str, bytes]) -> bytes:
    """``{silo id: bytes}`` (ciphertexts by destination, an unmask answer) as JSON bytes."""
    return json.dumps({k: _b64(v) for k, v in items.items()}, sort_keys=True).encode("utf-8")


def decode_share_map(data: bytes | str) -> dict[str, bytes]:
    """The inverse of :func:`encode_share_map`."""
    raw = _json(data, "share map")
    if not isinstance(raw, dict):
        raise SecAggError(f"share map: expected a JSON object, got {type(raw).__name__}")
    return {str(k): _unb64(v, f"share map entry {k!r}") for k, v in raw.items()}
