"""The cryptographic building blocks, each bound to the round and the pair it serves.

All from ``cryptography`` except Shamir sharing (Flower's ``create_shares`` /
``combine_shares``, pycryptodome underneath). Flower's ``pseudo_rand_gen`` is not used:
it folds the seed to 32 bits and never draws the top value, so its masks are neither
secret nor uniform; nor its ``generate_shared_key``/Fernet (no X25519, no bound context).
"""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flwr.common.secure_aggregation.crypto.shamir import combine_shares, create_shares

from fedgov.secagg._params import PROTOCOL

__all__ = [
    "KEY_BYTES",
    "agree",
    "frame",
    "hkdf",
    "open_box",
    "prg",
    "seal",
    "share_secret",
    "combine_secret",
]

KEY_BYTES = 32
_NONCE = 12
_TAG = 16  # AES-GCM tag
#: Check tag appended to a shared secret: 15 bytes keeps a 32-byte secret at three
#: 16-byte Shamir chunks after PKCS#7 padding (16 would make four: a third more work).
_CHECK = 15
_ZERO_BLOCK = bytes(16)


def frame(*parts: bytes | str) -> bytes:
    """Length-prefixed concatenation: no two different part lists give the same bytes."""
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def hkdf(secret: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 to a 32-byte key; ``info`` names the round, the purpose and the pair."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def agree(private: x25519.X25519PrivateKey, public: bytes) -> bytes:
    """X25519 shared secret with a peer's raw public key (all-zero output refused)."""
    shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(public))
    if not any(shared):
        raise ValueError("X25519 with a low-order public key")
    return shared


def prg(key: bytes, length: int) -> np.ndarray:
    """``length`` uniform uint64 values: the AES-256-CTR keystream under ``key`` (counter
    block 0; every key is used for one stream only), read as little-endian uint64."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"PRG key must be {KEY_BYTES} bytes, got {len(key)}")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(_ZERO_BLOCK)).encryptor()
    stream = encryptor.update(bytes(8 * length)) + encryptor.finalize()
    return np.frombuffer(stream, dtype="<u8").astype(np.uint64)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: random 96-bit nonce || ciphertext || tag."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_box(key: bytes, box: bytes, aad: bytes) -> bytes | None:
    """The plaintext of :func:`seal`'s output, or None if it does not authenticate."""
    if len(box) < _NONCE + _TAG:
        return None
    try:
        return AESGCM(key).decrypt(box[:_NONCE], box[_NONCE:], aad)
    except InvalidTag:
        return None


def _check_tag(context: bytes, owner: str, secret: bytes) -> bytes:
    return hmac.new(
        context, frame(PROTOCOL, b"share-check", owner, secret), hashlib.sha256
    ).digest()[:_CHECK]


def share_secret(
    secret: bytes, threshold: int, num: int, context: bytes, owner: str
) -> list[bytes]:
    """``num`` Shamir shares (``threshold`` of them rebuild) of ``secret`` followed by a
    15-byte check tag bound to the round and the owner, so a wrong rebuild is detected."""
    return create_shares(secret + _check_tag(context, owner, secret), threshold, num)


def combine_secret(shares: list[bytes], context: bytes, owner: str) -> bytes | None:
    """The secret behind ``shares``, or None if they do not rebuild a tagged secret
    (too few, inconsistent or malformed shares)."""
    if not shares or len({len(s) for s in shares}) != 1 or len(shares[0]) < 4 + 16:
        return None
    if (len(shares[0]) - 4) % 16 or len({s[:4] for s in shares}) != len(shares):
        return None
    try:
        joined = combine_shares(list(shares))
    except (ValueError, TypeError):
        return None
    secret, tag = joined[:-_CHECK], joined[-_CHECK:]
    if len(joined) <= _CHECK or not hmac.compare_digest(tag, _check_tag(context, owner, secret)):
        return None
    return secret
