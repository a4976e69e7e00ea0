"""One silo's side of a round: keys, shares, the masked vector and the unmask answer.

The secrets (two X25519 private keys, the self-mask seed ``b_u``, the shares received
from peers) live only in this object's memory; each stage runs once, in order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519
from flwr.common.secure_aggregation.secaggplus_utils import (
    share_keys_plaintext_concat,
    share_keys_plaintext_separate,
)

from fedgov.identity import identity_from_pem
from fedgov.secagg._masks import box_aad, box_key, pair_mask, self_mask
from fedgov.secagg._messages import Advert
from fedgov.secagg._params import RoundParams, SecAggError
from fedgov.secagg._primitives import KEY_BYTES, open_box, seal, share_secret
from fedgov.secagg._verify import load_signing_key, sign_advert, verify_adverts

__all__ = ["SiloRound", "as_vector", "b_owner", "s_owner"]

_STAGES = ("new", "advertised", "shared", "masked", "answered")


def b_owner(silo: str) -> str:
    """Check-tag owner of the shares of ``silo``'s self-mask seed."""
    return f"b:{silo}"


def s_owner(silo: str) -> str:
    """Check-tag owner of the shares of ``silo``'s mask private key."""
    return f"s:{silo}"


def as_vector(x: object, length: int, where: str) -> np.ndarray:
    """``x`` as a uint64 vector of ``length`` (non-negative integers only)."""
    arr = np.asarray(x)
    if arr.shape != (length,):
        raise SecAggError(f"{where}: expected a vector of length {length}, got shape {arr.shape}")
    if arr.dtype.kind not in "ui":
        raise SecAggError(f"{where}: expected integer counts, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and (arr < 0).any():
        raise SecAggError(f"{where}: counts must be non-negative")
    return arr.astype(np.uint64)


class SiloRound:
    """Silo ``silo_id``'s part in the round ``params`` (Bonawitz et al. 2017, full graph).

    ``advertise`` -> ``share_keys`` -> ``masked_input`` -> ``unmask``; a stage called out of
    order or a second time raises :class:`SecAggError` (a second masked vector under the
    same masks would reveal the difference of the two inputs; a second unmask answer
    could hand out both shares of one peer).
    """

    def __init__(
        self,
        params: RoundParams,
        silo_id: str,
        cert_key_pem: bytes,
        cert_pem: bytes,
        ca_pem: bytes,
    ) -> None:
        self.params = params
        self.silo_id = silo_id
        self._where = f"round {params.round_id}, silo {silo_id!r}"
        params.index(silo_id)  # raises if not in the cohort
        identity = identity_from_pem(cert_pem)
        if identity.role != "silo" or identity.name != silo_id:
            raise SecAggError(f"{self._where}: the certificate given names {identity}")
        self._key = load_signing_key(cert_key_pem, cert_pem, silo_id)
        self._cert_pem = cert_pem
        self._ca_pem = ca_pem
        self._c = x25519.X25519PrivateKey.generate()
        self._s = x25519.X25519PrivateKey.generate()
        self._b = os.urandom(KEY_BYTES)
        self._stage = "new"
        self._advert: Advert | None = None
        self._peers: dict[str, Advert] = {}
        self._held: dict[str, tuple[bytes, bytes]] = {}  # src -> (b share, s share) for me
        self._u2: frozenset[str] = frozenset()

    def _enter(self, stage: str) -> None:
        want = _STAGES[_STAGES.index(stage) - 1]
        if self._stage != want:
            raise SecAggError(
                f"{self._where}: {stage} refused: this silo is at stage {self._stage!r} "
                f"and each stage runs once, after {want!r}"
            )

    def advertise(self) -> Advert:
        """This silo's signed public keys (the same advert if asked again before sharing)."""
        if self._advert is None:
            self._enter("advertised")
            self._advert = sign_advert(
                self.params,
                self.silo_id,
                self._key,
                self._cert_pem,
                self._c.public_key().public_bytes_raw(),
                self._s.public_key().public_bytes_raw(),
            )
            self._stage = "advertised"
        return self._advert

    def share_keys(self, adverts: Sequence[Advert]) -> dict[str, bytes]:
        """Verify every relayed advert, then Shamir-share ``b_u`` and ``s_u`` to each peer.

        Returns destination silo -> AES-256-GCM ciphertext of (b share, s share).
        """
        self._enter("shared")
        assert self._advert is not None
        peers = verify_adverts(self.params, adverts, self._ca_pem)
        if peers.get(self.silo_id) != self._advert:
            raise SecAggError(
                f"{self._where}: its own advert is missing or altered in the relayed list "
                f"(silo {self.silo_id!r}); refusing to share keys"
            )
        params, me = self.params, self.silo_id
        n, t, ctx = len(params.cohort), params.threshold, params.context_digest()
        b_shares = share_secret(self._b, t, n, ctx, b_owner(me))
        s_shares = share_secret(self._s.private_bytes_raw(), t, n, ctx, s_owner(me))
        out: dict[str, bytes] = {}
        src = params.index(me)
        for dst, advert in peers.items():
            i = params.index(dst)
            pair = (b_shares[i - 1], s_shares[i - 1])
            if dst == me:
                self._held[me] = pair
                continue
            plain = share_keys_plaintext_concat(src, i, *pair)
            key = box_key(params, self._c, advert.c_pk, me, dst)
            out[dst] = seal(key, plain, box_aad(params, me, dst))
        self._peers = peers
        self._stage = "shared"
        return out

    def _receive(self, src: str, box: bytes) -> tuple[bytes, bytes]:
        advert = self._peers.get(src)
        if advert is None or src == self.silo_id:
            raise SecAggError(
                f"{self._where}: received shares from silo {src!r}, which is not a verified "
                "peer of this round"
            )
        key = box_key(self.params, self._c, advert.c_pk, self.silo_id, src)
        plain = open_box(key, box, box_aad(self.params, src, self.silo_id))
        if plain is None:
            raise SecAggError(
                f"{self._where}: the shares from silo {src!r} do not authenticate "
                "(altered, replayed from another round or addressed to another silo)"
            )
        i, j, b_share, s_share = share_keys_plaintext_separate(plain)
        if (i, j) != (self.params.index(src), self.params.index(self.silo_id)):
            raise SecAggError(f"{self._where}: the shares from silo {src!r} name another pair")
        return b_share, s_share

    def masked_input(self, x: np.ndarray, inbound: Mapping[str, bytes]) -> bytes:
        """``y = x + PRG(b_u) + sum_{v>u} p_uv - sum_{v<u} p_uv`` (mod 2^64), little-endian.

        ``inbound`` maps each sender to the ciphertext it addressed to this silo; the
        senders plus this silo are ``U2``, the silos whose pairwise masks enter ``y``.
        """
        self._enter("masked")
        vector = as_vector(x, self.params.length, f"{self._where}, masked input")
        held = {src: self._receive(src, box) for src, box in inbound.items()}
        u2 = frozenset(held) | {self.silo_id}
        if len(u2) < self.params.threshold:
            raise SecAggError(
                f"{self._where}: only {len(u2)} silos (this one included) shared keys, fewer "
                f"than the threshold {self.params.threshold}; not sending a masked vector"
            )
        y = vector + self_mask(self.params, self._b, self.silo_id)
        for v in sorted(u2 - {self.silo_id}):
            y += pair_mask(self.params, self._s, self._peers[v].s_pk, self.silo_id, v)
        self._held.update(held)
        self._u2 = u2
        self._stage = "masked"
        return bytes(y.astype("<u8").tobytes())

    def unmask(self, survivors: Sequence[str], dropped: Sequence[str]) -> dict[str, bytes]:
        """Per peer of ``U2``, its b share if it survived (this silo's own included), its
        s share if it dropped: never both for one peer, and only once per round."""
        alive, gone = set(survivors), set(dropped)
        problem = None
        if self._stage == "masked":
            if len(alive) != len(survivors) or len(gone) != len(dropped):
                problem = "a silo is listed twice"
            elif alive & gone:
                problem = (
                    f"silos {sorted(alive & gone)} are listed both as survivors and as dropped"
                )
            elif self.silo_id not in alive:
                problem = "this silo is not listed among the survivors"
            elif alive | gone != self._u2:
                problem = (
                    f"survivors and dropped {sorted(alive | gone)} are not the silos that "
                    f"shared keys with this one {sorted(self._u2)}"
                )
            elif len(alive) < self.params.threshold:
                problem = (
                    f"{len(alive)} survivors, fewer than the threshold {self.params.threshold}"
                )
        if problem:
            raise SecAggError(f"{self._where}: unmask refused: {problem}")
        self._enter("answered")
        self._stage = "answered"
        answer = {v: self._held[v][0] for v in sorted(alive)}
        answer.update({v: self._held[v][1] for v in sorted(gone)})
        self._b = b""
        self._held.clear()
        return answer
