"""Secure aggregation: the aggregator learns the exact sum of a cohort's count vectors,
never one silo's vector.

Protocol: pairwise-masked secure aggregation with dropout recovery by Shamir secret
sharing, Bonawitz, Ivanov, Kreuter, Marcedone, McMahan, Patel, Ramage, Segal, Seth,
"Practical Secure Aggregation for Privacy-Preserving Machine Learning", ACM CCS 2017,
on the full graph (every pair of silos masks; the sparse graph of Bell, Bonawitz,
Gascon, Lepoint, Raykova, "Secure Single-Server Aggregation with (Poly)Logarithmic
Overhead", ACM CCS 2020, is not built here). Stages, for silo ``u`` in cohort ``U``:

1. :meth:`SiloRound.advertise`: two X25519 key pairs ``(c_u, s_u)``, the public halves
   signed (ECDSA P-256/SHA-256) with the silo's TLS certificate key over the round context.
2. :meth:`SiloRound.share_keys`: verify every relayed advert (CA, validity, identity,
   signature), draw the self-mask seed ``b_u``, Shamir-share ``b_u`` and ``s_u`` (threshold
   ``t``) and send each peer its pair of shares under AES-256-GCM (key from X25519 of the
   ``c`` keys, HKDF bound to round and pair; AAD bound to round, sender and receiver).
3. :meth:`SiloRound.masked_input`: ``y_u = x_u + PRG(b_u) + sum_{v>u} p_uv - sum_{v<u} p_uv``
   mod 2^64 over ``U2`` (the silos that shared keys), ``p_uv = PRG(HKDF(X25519(s_u, s_v)))``.
4. :meth:`SiloRound.unmask`: given survivors ``U3`` and ``dropped = U2 \\ U3``, hand over the
   b share of each survivor or the s share of each dropped silo, never both of one peer;
   :func:`reconstruct` rebuilds the seeds and keys and removes the masks.

``PRG`` is the AES-256-CTR keystream (one fresh key per stream, counter block 0) read as
little-endian uint64; Flower's ``pseudo_rand_gen`` is not used (32-bit seed fold, not
uniform), nor its Fernet channel (no context binding).

Threat model: the aggregator is honest-but-curious (follows the protocol, reads all it
stores or relays); up to ``m - 2`` silos collude with it, with ``m <= t``; channels are
authenticated with the silos' certificates, and the round keys relayed by the aggregator
are signed by those certificate keys, so it cannot substitute them. An actively
malicious aggregator that tells different silos different survivor sets is out of
scope (Bonawitz et al.'s consistency-check round is not built); each silo still refuses
to answer twice or to release both shares of one peer.

Why exact: every value lives in Z/2^64 and numpy uint64 arithmetic wraps there; the
pairwise masks of two survivors cancel exactly and the others are recomputed and
removed exactly, so :func:`reconstruct` returns ``sum_{U3} x_u mod 2^64`` - the integer
sum itself when it is below 2^64, as count sums are.

Why private: ``PRG(b_u)`` is uniform on Z/2^64 per coordinate (AES-CTR under a secret
key), so ``y_u`` alone is independent of ``x_u``. To unmask one survivor ``u`` the
aggregator would need ``b_u`` (released) and every ``s_v``-derived mask of its pairs;
the pairs with other survivors are removed only in the sum, and the shares of ``s_u``
of a survivor are never released, so fewer than ``t`` colluders cannot rebuild it. A
late ``y_d`` from a silo declared dropped stays masked by ``PRG(b_d)``, whose shares are
never released; the caller discards it.
"""

from __future__ import annotations

from fedgov.secagg._aggregate import reconstruct, unmask_vector
from fedgov.secagg._messages import Advert, decode_share_map, encode_share_map
from fedgov.secagg._params import MODULUS, RoundParams, SecAggError
from fedgov.secagg._silo import SiloRound
from fedgov.secagg._verify import verify_adverts

__all__ = [
    "MODULUS",
    "Advert",
    "RoundParams",
    "SecAggError",
    "SiloRound",
    "decode_share_map",
    "encode_share_map",
    "reconstruct",
    "unmask_vector",
    "verify_adverts",
]
