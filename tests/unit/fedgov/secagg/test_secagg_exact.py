"""The secure sum is exact modulo 2^64, and the round's data survives a trip through
JSON / bytes as the aggregator stores and relays it."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.secagg_rounds import params_for, run_round, silo_round

from fedgov.errors import GovernanceError
from fedgov.secagg import (
    MODULUS,
    Advert,
    RoundParams,
    SecAggError,
    decode_share_map,
    encode_share_map,
)


def _oracle(vectors: list[np.ndarray]) -> list[int]:
    """The sum mod 2^64 in Python integers (no numpy wrap-around involved)."""
    return [sum(int(v[i]) for v in vectors) % MODULUS for i in range(len(vectors[0]))]


def _hard_vectors(cohort: tuple[str, ...], length: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for k, silo in enumerate(cohort):
        x = rng.integers(0, 2**64 - 1, length, dtype=np.uint64, endpoint=True)
        x[:4] = [2**63 - 1, 2**63, 2**64 - 1, 2**63 + k]  # near 2^63 and the top
        x[4] = 0
        x[5] = k  # small counts too
        out[silo] = x
    return out


@pytest.mark.parametrize("n", [3, 4, 10])
def test_sum_is_exact_mod_2_64_with_wraparound(n: int, request: pytest.FixtureRequest) -> None:
    pki = request.getfixturevalue("pki10") if n > 4 else request.getfixturevalue("pki4")
    t = max(2, math.ceil(2 * n / 3))
    params = params_for(n, t, 257)
    xs = _hard_vectors(params.cohort, params.length, seed=n)
    total, view, _ = run_round(pki, params, xs)
    assert total.dtype == np.uint64
    assert [int(v) for v in total] == _oracle(list(xs.values()))
    assert int(total[2]) == (n * (2**64 - 1)) % MODULUS  # the wrap really happened
    for silo, y in view.masked.items():  # no vector leaves in the clear
        assert not np.array_equal(np.frombuffer(y, "<u8"), xs[silo])


def test_small_counts_sum_to_the_integer_total(pki4: Path) -> None:
    params = params_for(4, 3, 64)
    rng = np.random.default_rng(7)
    xs = {s: rng.integers(0, 40, 64).astype(np.int64) for s in params.cohort}  # int64 accepted
    total, _, _ = run_round(pki4, params, xs)
    assert total.tolist() == np.sum(list(xs.values()), axis=0).tolist()


def test_input_must_be_non_negative_integers_of_the_round_length(pki4: Path) -> None:
    params = params_for(4, 3, 8)
    silos = {s: silo_round(pki4, params, s) for s in params.cohort}
    adverts = [r.advertise() for r in silos.values()]
    boxes = {s: r.share_keys(adverts) for s, r in silos.items()}
    me = silos["S01"]
    inbound = {src: out["S01"] for src, out in boxes.items() if src != "S01"}
    for bad, words in [
        (np.zeros(7, np.uint64), "length 8"),
        (np.full(8, -1), "non-negative"),
        (np.zeros(8, float), "integer counts"),
    ]:
        with pytest.raises(SecAggError, match=words):
            me.masked_input(bad, inbound)
    assert len(me.masked_input(np.zeros(8, np.uint64), inbound)) == 8 * 8


def test_round_params_validate_and_bind_every_field() -> None:
    params = params_for(4, 3, 10)
    assert RoundParams.from_json(params.to_json()) == params
    base = params.context()
    for field, value in [
        ("model_id", "other"),
        ("period", "2026-12-07T11:00:00Z/2026-12-07T12:00:00Z"),
        ("part", "US-*"),
        ("threshold", 4),
        ("length", 11),
        ("layout_digest", "sha256:" + "cd" * 32),
        ("cohort", ("S01", "S02", "S03", "S05")),
    ]:
        assert replace(params, **{field: value}).context() != base
    for field, value, words in [
        ("round_id", "xyz", "round_id"),
        ("cohort", ("S02", "S01", "S03"), "sorted"),
        ("cohort", ("S01", "S01", "S03"), "unique"),
        ("cohort", ("S01",), "at least 2"),
        ("threshold", 1, "threshold"),
        ("threshold", 5, "threshold"),
        ("length", 0, "length"),
        ("part", "", "part"),
    ]:
        with pytest.raises(SecAggError, match=words):
            replace(params, **{field: value})
    with pytest.raises(SecAggError, match="keys"):
        RoundParams.from_json('{"round_id": "00"}')
    with pytest.raises(SecAggError, match="not JSON"):
        RoundParams.from_json("{")
    assert issubclass(SecAggError, GovernanceError)


def test_adverts_and_share_maps_survive_serialisation(pki4: Path) -> None:
    params = params_for(4, 3, 10)
    advert = silo_round(pki4, params, "S01").advertise()
    assert Advert.from_bytes(advert.to_bytes()) == advert
    assert Advert.from_dict(advert.to_dict()) == advert
    shares = {"S02": b"\x00\xff" * 20, "S03": b""}
    assert decode_share_map(encode_share_map(shares)) == shares
    for garbage in [b"[]", b"{", b'{"S02": "not base64!"}']:
        with pytest.raises(SecAggError):
            decode_share_map(garbage)
    with pytest.raises(SecAggError, match="keys"):
        Advert.from_dict({"silo_id": "S01"})
    with pytest.raises(SecAggError, match="base64"):
        Advert.from_dict({**advert.to_dict(), "c_pk": 5})
