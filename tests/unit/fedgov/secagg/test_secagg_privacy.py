"""What the aggregator can learn, tried as an attacker: a masked vector looks uniform
whatever the input; the full view (adverts, ciphertexts, masked vectors, unmask answers,
plus a colluding silo's secrets) never holds both the b and s secrets of a survivor; a
late vector from a silo declared dropped stays masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from scipy.stats import chisquare, ks_2samp
from support.secagg_rounds import View, params_for, run_round, silo_round

from fedgov.secagg import RoundParams, SecAggError, SiloRound, reconstruct, unmask_vector
from fedgov.secagg._masks import pair_mask, self_mask
from fedgov.secagg._primitives import combine_secret
from fedgov.secagg._silo import b_owner, s_owner

P_FLOOR = 1e-6  # a uniform source fails this by chance once in a million runs
LENGTH = 20_000  # 160,000 bytes: 625 expected per byte value


def _byte_counts(v: np.ndarray) -> np.ndarray:
    return np.bincount(np.frombuffer(v.astype("<u8").tobytes(), np.uint8), minlength=256)


def _uniform_p(v: np.ndarray) -> float:
    return float(chisquare(_byte_counts(v)).pvalue)


def _bytes(v: np.ndarray) -> np.ndarray:
    return np.frombuffer(v.astype("<u8").tobytes(), np.uint8)


def _y(view: View, params: RoundParams, silo: str) -> np.ndarray:
    return unmask_vector(params, view.masked[silo], silo)


def test_the_uniformity_tests_have_power() -> None:
    """Controls: the same tests reject raw counts and a mask that is only 32 bits wide."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 500, LENGTH).astype(np.uint64)
    weak = counts + rng.integers(0, 2**32, LENGTH, dtype=np.uint64)
    assert _uniform_p(counts) < P_FLOOR
    assert _uniform_p(weak) < P_FLOOR
    big = np.full(LENGTH, 2**63 + 12_345, np.uint64)
    assert ks_2samp(_bytes(np.zeros(LENGTH, np.uint64)), _bytes(big)).pvalue < P_FLOOR


@pytest.mark.parametrize("fixed", [True, False])
def test_masked_vectors_look_uniform_for_fixed_and_varied_inputs(pki4: Path, fixed: bool) -> None:
    rng = np.random.default_rng(1)
    params = params_for(4, 3, LENGTH)
    if fixed:
        xs = {s: np.full(LENGTH, 7, np.uint64) for s in params.cohort}
    else:
        xs = {
            s: rng.integers(0, 10 ** (k + 1), LENGTH).astype(np.uint64)
            for k, s in enumerate(params.cohort)
        }
    _, view, _ = run_round(pki4, params, xs)
    for silo in params.cohort:
        assert _uniform_p(_y(view, params, silo)) > P_FLOOR, silo


def test_masked_zero_and_masked_big_are_indistinguishable(pki4: Path) -> None:
    params = params_for(4, 3, LENGTH)
    big = np.full(LENGTH, 2**63 + 12_345, np.uint64)
    xs = {
        "S01": np.zeros(LENGTH, np.uint64),
        "S02": big,
        "S03": big,
        "S04": np.zeros(LENGTH, np.uint64),
    }
    total, view, _ = run_round(pki4, params, xs)
    assert total.tolist() == [(2 * (2**63 + 12_345)) % 2**64] * LENGTH
    assert (
        ks_2samp(_bytes(_y(view, params, "S01")), _bytes(_y(view, params, "S02"))).pvalue > P_FLOOR
    )
    assert (
        ks_2samp(_bytes(_y(view, params, "S04")), _bytes(_y(view, params, "S03"))).pvalue > P_FLOOR
    )


def _shares_of(view: View, silo: str) -> list[bytes]:
    return [answer[silo] for answer in view.answers.values() if silo in answer]


def test_the_view_never_holds_both_secrets_of_a_survivor(pki4: Path) -> None:
    """Aggregator + one colluding silo (m - 2 with m = 3) try to unmask survivor S01."""
    params = params_for(4, 3, LENGTH)
    rng = np.random.default_rng(2)
    xs = {s: rng.integers(0, 50, LENGTH).astype(np.uint64) for s in params.cohort}
    silos = {s: silo_round(pki4, params, s) for s in params.cohort}
    colluder: SiloRound = silos["S03"]
    held_by_colluder: dict[str, tuple[bytes, bytes]] = {}
    original = colluder.unmask

    def leaky_unmask(survivors, dropped):  # type: ignore[no-untyped-def]
        held_by_colluder.update(colluder._held)  # the colluder hands its inbound shares over
        return original(survivors, dropped)

    colluder.unmask = leaky_unmask  # type: ignore[method-assign]
    total, view, _ = run_round(pki4, params, xs, drop_after_shares=["S04"], silos=silos)
    survivors = sorted(view.masked)
    assert total.tolist() == sum(xs[s].astype(object) for s in survivors).tolist()
    ctx = params.context_digest()
    for u in survivors:
        b_shares = _shares_of(view, u)
        assert len(b_shares) >= params.threshold
        # the answers carry only b shares of survivors: combined as an s key they fail
        assert combine_secret(b_shares, ctx, s_owner(u)) is None
        # the colluder adds its own s share of u: still fewer than t
        s_shares = [held_by_colluder[u][1]]
        assert len(s_shares) < params.threshold
        assert combine_secret(s_shares, ctx, s_owner(u)) is None
        for box in view.boxes.values():  # the relayed ciphertexts do not hold shares in clear
            assert not any(share in ct for share in b_shares for ct in box.values())
    # best effort on S01: remove PRG(b_S01), the dropped S04's pair mask (its s key is
    # released) and the colluder's pair mask; the pair with honest S02 remains
    b01 = combine_secret(_shares_of(view, "S01"), ctx, b_owner("S01"))
    s04 = combine_secret(_shares_of(view, "S04"), ctx, s_owner("S04"))
    assert b01 is not None and s04 is not None
    keys = {a.silo_id: a for a in view.adverts}
    residual = _y(view, params, "S01") - self_mask(params, b01, "S01")
    assert _uniform_p(residual) > P_FLOOR  # the view alone: pair masks still hide x_S01
    residual += pair_mask(
        params, x25519.X25519PrivateKey.from_private_bytes(s04), keys["S01"].s_pk, "S04", "S01"
    )
    residual += pair_mask(params, colluder._s, keys["S01"].s_pk, "S03", "S01")
    assert _uniform_p(residual) > P_FLOOR
    assert not np.array_equal(residual, xs["S01"])
    # sanity of the attack itself: with S02's s key too, the residual would be x_S01
    leaked = residual + pair_mask(params, silos["S02"]._s, keys["S01"].s_pk, "S02", "S01")
    assert np.array_equal(leaked, xs["S01"])


def test_a_late_vector_from_a_dropped_silo_stays_masked(pki4: Path) -> None:
    params = params_for(4, 3, LENGTH)
    xs = {s: np.full(LENGTH, 3, np.uint64) for s in params.cohort}
    silos = {s: silo_round(pki4, params, s) for s in params.cohort}
    adverts = [r.advertise() for r in silos.values()]
    boxes = {s: r.share_keys(adverts) for s, r in silos.items()}
    inbound = {s: {src: out[s] for src, out in boxes.items() if src != s} for s in silos}
    masked = {s: silos[s].masked_input(xs[s], inbound[s]) for s in ("S01", "S02", "S03")}
    answers = {s: silos[s].unmask(sorted(masked), ["S04"]) for s in masked}
    late = silos["S04"].masked_input(xs["S04"], inbound["S04"])  # arrives after the cut
    # the caller that forgets to discard it gets a refusal, not S04's vector
    with pytest.raises(SecAggError, match="self-mask seed of silo 'S04'"):
        reconstruct(params, adverts, {**masked, "S04": late}, [], answers)
    # the attacker knows s_S04 (released to cancel S04's masks) and removes every pair mask
    ctx = params.context_digest()
    s04 = combine_secret([a["S04"] for a in answers.values()], ctx, s_owner("S04"))
    assert s04 is not None
    key = x25519.X25519PrivateKey.from_private_bytes(s04)
    residual = unmask_vector(params, late, "S04")
    for v in ("S01", "S02", "S03"):
        residual -= pair_mask(params, key, silos[v].advertise().s_pk, "S04", v)
    assert _uniform_p(residual) > P_FLOOR  # still x + PRG(b_S04): b_S04 was never released
    assert all(
        "S04" not in a or a["S04"] != silos["S04"]._held.get("S04", (b"",))[0]
        for a in answers.values()
    )
    assert reconstruct(params, adverts, masked, ["S04"], answers).tolist() == [9] * LENGTH
