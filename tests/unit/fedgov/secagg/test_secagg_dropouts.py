"""Dropouts with 4 silos and t = 3: one lost after sharing keys is recovered by the
protocol; two lost fail the round; silos refuse unmask requests that would hand out
both shares of one peer or answer twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.secagg_rounds import params_for, run_round, silo_round

from fedgov.secagg import RoundParams, SecAggError, SiloRound, reconstruct


def _xs(params: RoundParams, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {s: rng.integers(0, 1000, params.length).astype(np.uint64) for s in params.cohort}


def _masked(pki: Path, params: RoundParams, xs: dict[str, np.ndarray], drop: set[str]):  # type: ignore[no-untyped-def]
    silos = {s: silo_round(pki, params, s) for s in params.cohort}
    adverts = [r.advertise() for r in silos.values()]
    boxes = {s: r.share_keys(adverts) for s, r in silos.items()}
    masked = {
        s: r.masked_input(xs[s], {src: out[s] for src, out in boxes.items() if src != s})
        for s, r in silos.items()
        if s not in drop
    }
    return silos, adverts, masked


def test_one_dropout_after_sharing_keys_gives_the_exact_sum_of_the_rest(pki4: Path) -> None:
    params = params_for(4, 3, 500)
    xs = _xs(params)
    total, view, _ = run_round(pki4, params, xs, drop_after_shares=["S03"])
    assert total.tolist() == sum(xs[s].astype(object) for s in ("S01", "S02", "S04")).tolist()
    # the dropped silo's s key was rebuilt (its masks removed), its b seed never released
    assert all("S03" in answer for answer in view.answers.values())
    assert view.dropped == ["S03"]


def test_a_survivor_that_does_not_answer_is_tolerated_above_t(pki4: Path) -> None:
    params = params_for(4, 3, 100)
    xs = _xs(params, seed=4)
    silos, adverts, masked = _masked(pki4, params, xs, set())
    survivors = sorted(masked)
    answers = {s: silos[s].unmask(survivors, []) for s in ("S01", "S02", "S04")}  # S03 silent
    total = reconstruct(params, adverts, masked, [], answers)
    assert total.tolist() == sum(x.astype(object) for x in xs.values()).tolist()
    with pytest.raises(SecAggError, match="2 unmask answers, fewer than the threshold 3"):
        reconstruct(params, adverts, masked, [], dict(list(answers.items())[:2]))


def test_two_dropouts_fail_the_round(pki4: Path) -> None:
    params = params_for(4, 3, 100)
    silos, adverts, masked = _masked(pki4, params, _xs(params), {"S02", "S04"})
    for s in ("S01", "S03"):
        with pytest.raises(SecAggError, match="2 survivors, fewer than the threshold 3"):
            silos[s].unmask(["S01", "S03"], ["S02", "S04"])
    with pytest.raises(SecAggError, match="2 masked vectors, fewer than the threshold 3"):
        reconstruct(params, adverts, masked, ["S02", "S04"], {})


def _ready(pki: Path) -> tuple[RoundParams, dict[str, SiloRound]]:
    params = params_for(4, 3, 50)
    silos, _, _ = _masked(pki, params, _xs(params), set())
    return params, silos


def test_asked_for_both_shares_of_one_peer_a_silo_refuses(pki4: Path) -> None:
    _, silos = _ready(pki4)
    me = silos["S01"]
    with pytest.raises(SecAggError, match=r"both as survivors and as dropped"):
        me.unmask(["S01", "S02", "S03", "S04"], ["S02"])
    with pytest.raises(SecAggError, match="not listed among the survivors"):
        me.unmask(["S02", "S03", "S04"], ["S01"])
    with pytest.raises(SecAggError, match="not the silos that shared keys"):
        me.unmask(["S01", "S02", "S03"], [])  # S04 neither survived nor dropped
    with pytest.raises(SecAggError, match="listed twice"):
        me.unmask(["S01", "S02", "S02", "S03", "S04"], [])
    answer = me.unmask(["S01", "S02", "S03"], ["S04"])  # refusals left it able to answer
    assert sorted(answer) == ["S01", "S02", "S03", "S04"]


def test_unmask_answers_once(pki4: Path) -> None:
    """A second call with another survivor set would give S04's s share after its b share."""
    _, silos = _ready(pki4)
    me = silos["S02"]
    me.unmask(["S01", "S02", "S03", "S04"], [])
    with pytest.raises(SecAggError, match="stage 'answered'"):
        me.unmask(["S01", "S02", "S03"], ["S04"])


def test_corrupted_or_misfiled_shares_fail_to_combine(pki4: Path) -> None:
    params = params_for(4, 3, 50)
    xs = _xs(params)
    silos, adverts, masked = _masked(pki4, params, xs, {"S04"})
    survivors = sorted(masked)
    answers = {s: silos[s].unmask(survivors, ["S04"]) for s in survivors}
    bad = {s: dict(a) for s, a in answers.items()}
    share = bytearray(bad["S02"]["S01"])
    share[10] ^= 0x40
    bad["S02"]["S01"] = bytes(share)
    with pytest.raises(SecAggError, match="self-mask seed of silo 'S01' do not combine"):
        reconstruct(params, adverts, masked, ["S04"], bad)
    swapped = {s: {**a, "S04": a["S01"]} for s, a in answers.items()}  # b shares as s shares
    with pytest.raises(SecAggError, match="mask key of silo 'S04' do not combine"):
        reconstruct(params, adverts, masked, ["S04"], swapped)
    with pytest.raises(SecAggError, match="has 7 bytes"):
        reconstruct(params, adverts, {**masked, "S01": b"1234567"}, ["S04"], answers)
    total = reconstruct(params, adverts, masked, ["S04"], answers)
    assert total.tolist() == sum(xs[s].astype(object) for s in survivors).tolist()
