"""Drift functions against scipy and a direct formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from fedgov.metrics.drift import (
    PSI_EPSILON,
    chi_square,
    drift_cells,
    jensen_shannon,
    missing_rate,
    psi,
    psi_pvalue,
)

counts_pair = (
    st.integers(2, 12)
    .flatmap(
        lambda b: st.tuples(
            st.lists(st.integers(0, 500), min_size=b, max_size=b),
            st.lists(st.integers(0, 500), min_size=b, max_size=b),
        )
    )
    .filter(lambda rc: sum(rc[0]) > 0 and sum(rc[1]) > 0)
)


def direct_psi(r: np.ndarray, c: np.ndarray, eps: float) -> float:
    seen = (r > 0) | (c > 0)
    r, c = r[seen].astype(float), c[seen].astype(float)
    b = r.size
    p = (r / r.sum() + eps) / (1 + b * eps)
    q = (c / c.sum() + eps) / (1 + b * eps)
    return float(sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True)))


@settings(max_examples=200, deadline=None, database=None)
@given(counts_pair)
def test_jensen_shannon_equals_scipy_base2(rc: tuple[list[int], list[int]]) -> None:
    r, c = (np.array(v) for v in rc)
    assert jensen_shannon(r, c) == pytest.approx(jensenshannon(r, c, base=2), abs=1e-12)


@settings(max_examples=200, deadline=None, database=None)
@given(counts_pair)
def test_chi_square_equals_scipy_contingency(rc: tuple[list[int], list[int]]) -> None:
    table = np.array(rc)
    table = table[:, table.sum(axis=0) > 0]
    result = chi_square(np.array(rc[0]), np.array(rc[1]))
    assert result is not None
    if table.shape[1] < 2:
        assert result == (0.0, 1.0)
        return
    ref = chi2_contingency(table, correction=False)
    assert result[0] == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
    assert result[1] == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-15)


def test_chi_square_single_seen_cell_matches_scipy_2x1() -> None:
    ref = chi2_contingency(np.array([[5], [7]]), correction=False)
    assert chi_square(np.array([5, 0]), np.array([7, 0])) == (ref.statistic, ref.pvalue)


@settings(max_examples=200, deadline=None, database=None)
@given(counts_pair, st.sampled_from([PSI_EPSILON, 1e-3, 1e-6]))
def test_psi_equals_the_direct_formula_and_is_symmetric(
    rc: tuple[list[int], list[int]], eps: float
) -> None:
    r, c = (np.array(v) for v in rc)
    value = psi(r, c, epsilon=eps)
    assert value == pytest.approx(direct_psi(r, c, eps), rel=1e-9, abs=1e-12)
    assert value == pytest.approx(psi(c, r, epsilon=eps), rel=1e-12, abs=1e-15)
    assert value is not None and value >= 0.0 and math.isfinite(value)


def test_psi_of_identical_proportions_is_zero_and_p_is_one() -> None:
    r = np.array([10, 20, 30, 0])
    assert psi(r, r * 3) == pytest.approx(0.0, abs=1e-15)
    assert psi_pvalue(r, r * 3) == pytest.approx(1.0)
    assert jensen_shannon(r, r * 3) == pytest.approx(0.0, abs=1e-7)


def test_psi_known_value() -> None:
    # 50/50 vs 40/60, smoothing off: 0.1*ln(.5/.4) + 0.1*ln(.6/.5)
    got = psi(np.array([50, 50]), np.array([40, 60]), epsilon=0.0)
    assert got == pytest.approx(0.1 * math.log(1.25) + 0.1 * math.log(1.2))


def test_psi_is_finite_with_one_sided_empty_cells() -> None:
    value = psi(np.array([100, 0, 0]), np.array([0, 0, 100]))
    assert value is not None and math.isfinite(value) and value > 5
    assert psi_pvalue(np.array([100, 0, 0]), np.array([0, 0, 100])) < 1e-10


def test_psi_pvalue_decreases_with_sample_size_at_equal_proportions() -> None:
    r = np.array([30, 25, 25, 20])
    c = np.array([22, 25, 28, 25])
    pvalues = [psi_pvalue(r * k, c * k) for k in (1, 2, 4, 8, 16, 64)]
    psis = [psi(r * k, c * k) for k in (1, 2, 4, 8, 16, 64)]
    assert all(p is not None for p in pvalues)
    assert pvalues == sorted(pvalues, reverse=True)
    assert len(set(pvalues)) == len(pvalues)  # strictly
    assert pvalues[0] > 0.3 and pvalues[-1] < 1e-6
    assert max(psis) - min(psis) < 1e-12  # PSI itself does not see n


def test_psi_pvalue_is_calibrated_under_the_null() -> None:
    # Same distribution on both sides: about 5% of p-values fall below 0.05.
    rng = np.random.default_rng(7)
    probs = np.array([0.05, 0.1, 0.15, 0.2, 0.2, 0.15, 0.1, 0.05])
    pvals = [
        psi_pvalue(rng.multinomial(2000, probs), rng.multinomial(3000, probs)) for _ in range(600)
    ]
    share = np.mean(np.array(pvals) < 0.05)
    assert 0.025 < share < 0.08


def test_psi_pvalue_single_cell_is_one() -> None:
    assert psi_pvalue(np.array([0, 5]), np.array([0, 9])) == 1.0


@pytest.mark.parametrize("fn", [psi, psi_pvalue, jensen_shannon, chi_square])
def test_empty_side_gives_none(fn) -> None:  # type: ignore[no-untyped-def]
    assert fn(np.zeros(4, dtype=int), np.array([1, 2, 3, 4])) is None
    assert fn(np.array([1, 2, 3, 4]), np.zeros(4, dtype=int)) is None
    assert fn(np.zeros(4, dtype=int), np.zeros(4, dtype=int)) is None


def test_layout_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="layout"):
        psi(np.array([1, 2]), np.array([1, 2, 3]))


def test_negative_noised_counts_read_as_zero() -> None:
    assert psi(np.array([10, -3, 5]), np.array([10, 0, 5])) == pytest.approx(0.0, abs=1e-15)
    assert missing_rate(np.array([3, -2, 1])) == pytest.approx(0.25)


def test_missing_rate_and_drift_cells() -> None:
    assert missing_rate(np.array([1, 2, 1])) == 0.25
    assert missing_rate(np.zeros(3, dtype=int)) is None
    assert drift_cells(np.array([1, 2, 3, 4]), "numeric").tolist() == [1, 2, 3]
    assert drift_cells(np.array([1, 2, 3]), "categorical").tolist() == [1, 2]
    with pytest.raises(ValueError):
        drift_cells(np.array([1, 2, 3]), "text")


def test_results_are_python_floats() -> None:
    r, c = np.array([5, 6, 7]), np.array([7, 6, 5])
    for v in (psi(r, c), psi_pvalue(r, c), jensen_shannon(r, c), *chi_square(r, c)):  # type: ignore[misc]
        assert type(v) is float
