"""The discrete Gaussian mechanism and its zCDP accounting, checked against theory and attacked."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from support.specs import derive_credit_spec, stats_of

from fedgov.privacy import (
    add_discrete_gaussian,
    charge,
    compose,
    discrete_gaussian,
    gaussian_sigma,
    histogram_count,
    suppress_small_cells,
    zcdp_epsilon,
)
from fedgov.stats import Privacy, WindowStats
from fedgov.synthetic import credit_data


def _pmf(sigma: float, support: np.ndarray) -> np.ndarray:
    """The discrete Gaussian's pmf on ``support``, normalised over a range holding all its mass."""
    wide = np.arange(-int(40 * sigma) - 40, int(40 * sigma) + 41)
    norm = np.exp(-(wide.astype(float) ** 2) / (2 * sigma * sigma)).sum()
    return np.exp(-(support.astype(float) ** 2) / (2 * sigma * sigma)) / norm


@pytest.mark.parametrize("sigma", [0.6, 3.0, 14.1])
def test_sampler_matches_the_discrete_gaussian_pmf_and_variance(sigma: float) -> None:
    draws = discrete_gaussian(sigma, 200_000, rng=11)
    assert draws.dtype == np.int64
    lo, hi = int(-4 * sigma) - 1, int(4 * sigma) + 1
    support = np.arange(lo, hi + 1)
    p = _pmf(sigma, support)
    observed = np.array([np.count_nonzero(draws == x) for x in support], dtype=float)
    # Tails beyond +-4 sigma pooled into the end cells so every expected count is large.
    observed[0] += np.count_nonzero(draws < lo)
    observed[-1] += np.count_nonzero(draws > hi)
    expected = p * draws.size
    expected[0] += (1 - p.sum()) / 2 * draws.size
    expected[-1] += (1 - p.sum()) / 2 * draws.size
    keep = expected > 5
    chi = scipy_stats.chisquare(
        observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()
    )
    assert chi.pvalue > 1e-4
    wide = np.arange(-int(40 * sigma) - 40, int(40 * sigma) + 41)
    variance = float((wide.astype(float) ** 2 * _pmf(sigma, wide)).sum())
    assert draws.var() == pytest.approx(variance, rel=0.03)
    assert abs(draws.mean()) < 5 * math.sqrt(variance / draws.size)


def test_sampler_refuses_a_bad_sigma() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
            discrete_gaussian(bad, 3)


# -- sensitivity over the whole report ---------------------------------------------------------


def test_histogram_count_of_real_specs() -> None:
    scored = derive_credit_spec(with_score=True, score="score")
    plain = derive_credit_spec()
    # rows + outcome_missing + 5 numeric (coarse + fine) + 2 categorical + 3 outcome
    # tables (sex, age_band, sex*age_band) + 3 score tables.
    assert histogram_count(WindowStats.zero(scored)) == 2 + 5 * 2 + 2 + 3 + 3
    assert histogram_count(WindowStats.zero(plain)) == 2 + 5 * 2 + 2 + 3


def test_one_row_moves_exactly_h_cells_by_one_so_l2_sensitivity_is_sqrt_h() -> None:
    """Neighbouring windows (one row more): every count vector of the report moves by a
    unit vector or not at all, and at most H of them move."""
    spec = derive_credit_spec(with_score=True, score="score")
    cols = credit_data(501, seed=8, with_score=True)
    without = {k: np.asarray(v)[:500] for k, v in cols.items()}
    a, b = stats_of(spec, without), stats_of(spec, cols)
    diffs = [b.rows - a.rows, b.outcome_missing - a.outcome_missing]
    for name, fc in b.features.items():
        diffs += list(fc.counts - a.features[name].counts)
        diffs += list(fc.fine - a.features[name].fine)
    for name, oc in b.outcomes.items():
        diffs += list((oc.counts - a.outcomes[name].counts).ravel())
    for name, sc in b.scores.items():
        diffs += list((sc.counts - a.scores[name].counts).ravel())
    d = np.asarray(diffs)
    assert set(np.unique(d)) <= {0, 1}
    assert math.sqrt(float((d**2).sum())) <= math.sqrt(histogram_count(b))


# -- the mechanism on reports --------------------------------------------------------------


@pytest.fixture(scope="module")
def big() -> tuple[WindowStats, int]:
    """A window whose cells are all far from 0 (clipping never bites) and its H."""
    spec = derive_credit_spec(with_score=True, score="score")
    s = stats_of(spec, credit_data(4000, seed=2, with_score=True))
    shift = 1000

    def lift(counts: np.ndarray) -> np.ndarray:
        return np.asarray(counts) + shift

    features = {
        n: type(fc)(n, fc.kind, lift(fc.counts), lift(fc.fine)) for n, fc in s.features.items()
    }
    outcomes = {n: type(o)(n, o.groups, lift(o.counts)) for n, o in s.outcomes.items()}
    scores = {n: type(c)(n, c.groups, lift(c.counts)) for n, c in s.scores.items()}
    lifted = WindowStats(
        s.spec_digest,
        s.rows + shift,
        features,
        outcomes,
        s.outcome_missing + shift,
        Privacy(),
        scores,
    )
    return lifted, histogram_count(lifted)


def _flat(s: WindowStats) -> np.ndarray:
    parts = [np.array([s.rows, s.outcome_missing])]
    for fc in s.features.values():
        parts += [fc.counts.ravel(), fc.fine.ravel()]
    parts += [o.counts.ravel() for o in s.outcomes.values()]
    parts += [c.counts.ravel() for c in s.scores.values()]
    return np.concatenate(parts).astype(np.int64)


def test_attack_per_cell_noise_has_the_stated_sigma(big: tuple[WindowStats, int]) -> None:
    """An attacker who knows every row but one sees each cell with noise of sd sigma: over
    many releases the noise is centred, has the stated sigma, and is independent across cells."""
    stats, h = big
    rho = 0.05
    truth = _flat(stats)
    rng = np.random.default_rng(5)
    releases = [add_discrete_gaussian(stats, rho, rng=rng) for _ in range(200)]
    sigma = releases[0].privacy.sigma
    assert sigma == pytest.approx(math.sqrt(h / (2 * rho)))
    assert releases[0].privacy.rho == rho and releases[0].privacy.noised
    noise = np.stack([_flat(r) for r in releases]) - truth
    assert noise.std() == pytest.approx(sigma, rel=0.02)
    assert abs(noise.mean()) < 5 * sigma / math.sqrt(noise.size)
    # Per cell too: no cell gets less noise than stated (sd within sampling error).
    per_cell = noise.std(axis=0)
    assert per_cell.min() > 0.7 * sigma and per_cell.max() < 1.3 * sigma
    corr = np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]
    assert abs(corr) < 0.3


def test_small_cells_are_not_in_the_clear() -> None:
    """The default guard hides a 3-row cell: releases of 0 and 3 rows overlap heavily, and
    a released count is never a cell the attacker can read off as exact."""
    spec = derive_credit_spec()
    s = stats_of(spec, credit_data(300, seed=3))
    noised = add_discrete_gaussian(s, 0.05, rng=1)
    assert noised.privacy.sigma is not None and noised.privacy.sigma > 10
    raw, out = _flat(s), _flat(noised)
    assert (out >= 0).all()
    assert np.count_nonzero(out != raw) > 0.5 * raw.size


def test_noise_is_refused_twice_and_after_suppression() -> None:
    spec = derive_credit_spec()
    s = stats_of(spec, credit_data(300, seed=3))
    with pytest.raises(ValueError, match="before suppressing"):
        add_discrete_gaussian(suppress_small_cells(s, 5), 0.1)
    with pytest.raises(ValueError, match="already noised"):
        add_discrete_gaussian(add_discrete_gaussian(s, 0.1, rng=1), 0.1)
    with pytest.raises(ValueError, match="rho must be"):
        add_discrete_gaussian(s, 0.0)
    # Suppression after noise is post-processing and keeps the DP record.
    both = suppress_small_cells(add_discrete_gaussian(s, 0.1, rng=1), 5)
    assert both.privacy.k == 5 and both.privacy.sigma is not None


def test_default_rng_is_fresh_each_time() -> None:
    assert not np.array_equal(discrete_gaussian(5.0, 64), discrete_gaussian(5.0, 64))
    assert np.array_equal(discrete_gaussian(5.0, 64, rng=3), discrete_gaussian(5.0, 64, rng=3))


# -- accounting ----------------------------------------------------------------------------------


def test_zcdp_to_approximate_dp_is_bun_steinke_prop_1_3() -> None:
    assert zcdp_epsilon(0.5, 1e-6) == pytest.approx(0.5 + 2 * math.sqrt(0.5 * math.log(1e6)))
    assert zcdp_epsilon(0.0, 1e-6) == 0.0
    with pytest.raises(ValueError, match="delta"):
        zcdp_epsilon(0.5, 1.0)


def test_composition_adds_and_secure_rounds_cost_twice() -> None:
    assert compose([0.1, 0.2, 0.3]) == pytest.approx(0.6)
    assert charge(0.1, secure_aggregation=True) == pytest.approx(0.2)
    assert charge(0.1, secure_aggregation=False) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        compose([0.1, -0.2])
    assert gaussian_sigma(20, 0.05) == pytest.approx(math.sqrt(200))


def test_privacy_record_merge_keeps_the_weakest_and_round_trips() -> None:
    a = Privacy(rho=0.1, sigma=10.0, rho_total=0.4, delta=1e-6)
    b = Privacy(rho=0.2, sigma=7.0, rho_total=0.2, delta=1e-5)
    m = a.merge(b)
    assert (m.rho, m.sigma, m.rho_total, m.delta) == (0.2, 10.0, 0.4, 1e-5)
    assert a.merge(Privacy()) == a and m.noised
    assert Privacy.from_dict(a.to_dict()) == a
    assert Privacy().to_dict() == {"k": None, "epsilon": None}  # documents as before
    with pytest.raises(ValueError, match="privacy.delta"):
        Privacy(delta=1.5)
    with pytest.raises(ValueError, match="privacy.sigma"):
        Privacy(sigma=0.0)
