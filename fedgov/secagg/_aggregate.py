"""The aggregator's side: from the masked vectors and the unmask answers to the sum.

``sum_{u in U3} y_u = sum x_u + sum_{u in U3} PRG(b_u) + sum_{u in U3, d dropped} +-p_ud``
(the pairwise masks between two survivors cancel). The answers rebuild ``b_u`` of each
survivor and ``s_d`` of each dropped silo, never both of one silo, so what is left after
removing those masks is the sum of the survivors' vectors and nothing finer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from fedgov.secagg._masks import pair_mask, self_mask
from fedgov.secagg._messages import Advert
from fedgov.secagg._params import RoundParams, SecAggError
from fedgov.secagg._primitives import combine_secret
from fedgov.secagg._silo import b_owner, s_owner

__all__ = ["reconstruct", "unmask_vector"]


def unmask_vector(params: RoundParams, data: bytes, silo: str) -> np.ndarray:
    """A masked vector's bytes as uint64 (the length checked against the round)."""
    if not isinstance(data, bytes | bytearray) or len(data) != 8 * params.length:
        got = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
        raise SecAggError(
            f"round {params.round_id}: the masked vector of silo {silo!r} has {got} bytes, "
            f"expected {8 * params.length}"
        )
    return np.frombuffer(bytes(data), dtype="<u8").astype(np.uint64)


def _rebuild(
    params: RoundParams, answers: Mapping[str, Mapping[str, bytes]], silo: str, owner: str
) -> bytes:
    shares = [a[silo] for a in answers.values() if silo in a]
    what = "self-mask seed" if owner.startswith("b:") else "mask key"
    if len(shares) < params.threshold:
        raise SecAggError(
            f"round {params.round_id}, unmask: {len(shares)} shares of the {what} of silo "
            f"{silo!r}, fewer than the threshold {params.threshold}"
        )
    # t shares determine the secret; interpolating more only costs time (O(k^2) in GF(2^128))
    secret = combine_secret(sorted(shares)[: params.threshold], params.context_digest(), owner)
    if secret is None:
        raise SecAggError(
            f"round {params.round_id}, unmask: the shares of the {what} of silo {silo!r} "
            "do not combine (corrupted or from another round); the round fails"
        )
    return secret


def reconstruct(
    params: RoundParams,
    adverts: Sequence[Advert],
    masked: Mapping[str, bytes],
    dropped: Sequence[str],
    answers: Mapping[str, Mapping[str, bytes]],
) -> np.ndarray:
    """The exact sum (mod 2^64) of the survivors' vectors; survivors = ``masked``'s keys.

    ``dropped`` are the silos that shared keys but sent no masked vector; ``answers``
    maps each answering survivor to its unmask answer. Raises :class:`SecAggError` with
    fewer than ``t`` survivors or answers, or when a share set does not combine.
    """
    where = f"round {params.round_id}, unmask"
    survivors, gone = sorted(masked), sorted(set(dropped))
    keys = {a.silo_id: a for a in adverts}
    for silo in [*survivors, *gone]:
        if silo not in params.cohort or silo not in keys:
            raise SecAggError(f"{where}: silo {silo!r} is not an advertised cohort member")
    if set(survivors) & set(gone):
        raise SecAggError(
            f"{where}: silos {sorted(set(survivors) & set(gone))} both survived and dropped"
        )
    if len(survivors) < params.threshold:
        raise SecAggError(
            f"{where}: {len(survivors)} masked vectors, fewer than the threshold "
            f"{params.threshold}; the round fails and nothing is released"
        )
    strangers = sorted(set(answers) - set(survivors))
    if strangers:
        raise SecAggError(f"{where}: answers from silos {strangers}, which are not survivors")
    if len(answers) < params.threshold:
        raise SecAggError(
            f"{where}: {len(answers)} unmask answers, fewer than the threshold "
            f"{params.threshold}; the round fails and nothing is released"
        )
    total = np.zeros(params.length, dtype=np.uint64)
    for u in survivors:
        total += unmask_vector(params, masked[u], u)
        total -= self_mask(params, _rebuild(params, answers, u, b_owner(u)), u)
    for d in gone:
        raw = _rebuild(params, answers, d, s_owner(d))
        s_d = x25519.X25519PrivateKey.from_private_bytes(raw)
        if s_d.public_key().public_bytes_raw() != keys[d].s_pk:
            raise SecAggError(
                f"{where}: the rebuilt mask key of silo {d!r} does not match its advert"
            )
        for u in survivors:
            total += pair_mask(params, s_d, keys[u].s_pk, d, u)  # -(u's term for the pair)
    return total
