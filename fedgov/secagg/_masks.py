"""The masks both sides compute: a silo to hide its vector, the aggregator to remove
the self masks of survivors and the dangling pairwise masks of dropped silos.

Keys come from HKDF-SHA256 whose ``info`` holds the protocol tag, the purpose, the
round context digest and the (ordered) pair, so no key serves two rounds, two pairs or
two purposes; each key drives one AES-256-CTR stream (:func:`prg`).
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from fedgov.secagg._params import PROTOCOL, RoundParams
from fedgov.secagg._primitives import agree, frame, hkdf, prg

__all__ = ["box_aad", "box_key", "pair_mask", "self_mask"]


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def box_key(
    params: RoundParams, c_private: x25519.X25519PrivateKey, peer_c_pk: bytes, me: str, peer: str
) -> bytes:
    """AES-256-GCM key for the shares exchanged between ``me`` and ``peer``."""
    lo, hi = _pair(me, peer)
    info = frame(PROTOCOL, b"share-encryption", params.context_digest(), lo, hi)
    return hkdf(agree(c_private, peer_c_pk), info)


def box_aad(params: RoundParams, src: str, dst: str) -> bytes:
    """Associated data of the share ciphertext from ``src`` to ``dst`` (direction bound)."""
    return frame(PROTOCOL, b"shares", params.context_digest(), src, dst)


def pair_mask(
    params: RoundParams, s_private: x25519.X25519PrivateKey, peer_s_pk: bytes, me: str, peer: str
) -> np.ndarray:
    """What the pair (me, peer) adds to ``me``'s masked vector: ``+p`` if ``me`` sorts
    first, ``-p`` (mod 2^64) otherwise, so the two contributions cancel in the sum."""
    lo, hi = _pair(me, peer)
    info = frame(PROTOCOL, b"pair-mask", params.context_digest(), lo, hi)
    p = prg(hkdf(agree(s_private, peer_s_pk), info), params.length)
    return p if me < peer else np.negative(p)


def self_mask(params: RoundParams, seed: bytes, silo: str) -> np.ndarray:
    """``PRG(b_u)``: the self mask, released only for survivors at unmask time."""
    info = frame(PROTOCOL, b"self-mask", params.context_digest(), silo)
    return prg(hkdf(seed, info), params.length)
