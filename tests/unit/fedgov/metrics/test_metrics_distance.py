"""KS and Wasserstein-1 from binned counts against scipy on the raw values.

The oracle is ``scipy.stats.ks_2samp`` / ``scipy.stats.wasserstein_distance``
on the values themselves; each test checks that the exact statistic lies
within the bound our binned figure reports, and that the bound is small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, wasserstein_distance
from support.specs import derive_toy_spec

from fedgov.metrics import compute_metrics
from fedgov.metrics.drift import drift_cells, ks_statistic, wasserstein
from fedgov.privacy import add_laplace_noise, suppress_small_cells
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import WindowStats, encode_columns, numeric_cells

TOL = 1e-12  # float noise between two exact computations
Gen = Callable[[np.random.Generator, int], np.ndarray]

# (reference, current): shifted, rescaled, heavy-tailed, discrete, with atoms
PAIRS: dict[str, tuple[Gen, Gen]] = {
    "normal-shift": (lambda r, n: r.normal(size=n), lambda r, n: r.normal(0.1, 1.0, n)),
    "normal-same": (lambda r, n: r.normal(size=n), lambda r, n: r.normal(size=n)),
    "lognormal-scale": (lambda r, n: r.lognormal(size=n), lambda r, n: r.lognormal(0.0, 1.2, n)),
    "student-t2": (lambda r, n: r.standard_t(2, n), lambda r, n: r.standard_t(2, n) + 0.05),
    "cauchy": (lambda r, n: r.standard_cauchy(n), lambda r, n: 1.1 * r.standard_cauchy(n)),
    "exp-vs-gamma": (lambda r, n: r.exponential(size=n), lambda r, n: r.gamma(1.3, 0.8, n)),
    "poisson": (lambda r, n: r.poisson(3, n) * 1.0, lambda r, n: r.poisson(3.3, n) * 1.0),
    "zero-inflated": (
        lambda r, n: np.where(r.random(n) < 0.4, 0.0, r.exponential(size=n)),
        lambda r, n: np.where(r.random(n) < 0.5, 0.0, r.exponential(1.2, n)),
    ),
}
N = 100_000


def binned(ref: np.ndarray, cur: np.ndarray, bins: int = 512) -> tuple[Any, Any, NumericFeature]:
    """Fine reference and current counts (missing cell dropped), as the pipeline makes them."""
    spec = derive_toy_spec(
        {"x": ref, "y": np.zeros(ref.size), "p": np.zeros(ref.size)},
        sensitive=[],
        fine_bins=bins,
    )
    f = spec.feature("x")
    assert isinstance(f, NumericFeature)
    stats = WindowStats.zero(spec).fold(
        spec, encode_columns(spec, {"x": cur, "y": np.zeros(cur.size), "p": np.zeros(cur.size)})
    )
    r = drift_cells(np.array(spec.reference_fine["x"]), "numeric")
    return r, drift_cells(stats.features["x"].fine, "numeric"), f


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_ks_brackets_scipy_with_a_small_bound(name: str) -> None:
    rng = np.random.default_rng(11)
    make_ref, make_cur = PAIRS[name]
    ref, cur = make_ref(rng, N), make_cur(rng, N)
    r, c, f = binned(ref, cur)
    result = ks_statistic(r, c, f.fine_edges)
    assert result is not None
    value, bound = result
    exact = ks_2samp(ref, cur).statistic
    assert value - TOL <= exact <= value + bound + TOL, (value, bound, exact)
    assert bound < 0.01  # 512 quantile bins, 100k rows
    # the documented cruder bound: the largest single-cell share of either sample
    assert bound <= max((r / r.sum()).max(), (c / c.sum()).max()) + TOL
    # without the edges, one-value cells are not recognised: still valid, looser
    loose = ks_statistic(r, c)
    assert loose is not None and loose[0] == value and loose[1] >= bound


def test_ks_of_integer_data_is_exact() -> None:
    rng = np.random.default_rng(2)
    ref, cur = rng.poisson(3, N) * 1.0, rng.poisson(3.3, N) * 1.0
    r, c, f = binned(ref, cur)
    value, bound = ks_statistic(r, c, f.fine_edges)  # type: ignore[misc]
    assert bound == 0.0
    assert value == pytest.approx(ks_2samp(ref, cur).statistic, abs=TOL)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_wasserstein_within_bound_when_no_row_is_beyond_the_edges(name: str) -> None:
    rng = np.random.default_rng(12)
    make_ref, make_cur = PAIRS[name]
    ref = make_ref(rng, N)
    cur = make_cur(rng, 2 * N)
    cur = cur[(cur >= ref.min()) & (cur <= ref.max())][:N]  # no tail mass: a finite bound
    r, c, f = binned(ref, cur)
    value, bound = wasserstein(r, c, f.fine_edges)  # type: ignore[misc]
    exact = wasserstein_distance(ref, cur)
    assert abs(value - exact) <= bound + TOL * max(1.0, exact), (value, bound, exact)
    # the documented cruder bound: bin widths weighted by the mass in them
    width = np.diff(np.asarray(f.fine_edges))
    crude = float(np.sum(width * (r[1:-1] / r.sum() + c[1:-1] / c.sum())))
    assert bound <= crude * (1 + 1e-9)
    if name in ("normal-shift", "normal-same", "exp-vs-gamma", "poisson", "zero-inflated"):
        assert bound <= 4 * (f.fine_edges[-1] - f.fine_edges[0]) / 512


def test_wasserstein_bound_is_infinite_with_rows_beyond_the_edges() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=N), rng.normal(0.5, 1.0, N)
    r, c, f = binned(ref, cur)
    assert c[-1] > 0  # the shifted sample overflows the reference range
    value, bound = wasserstein(r, c, f.fine_edges)  # type: ignore[misc]
    assert bound == np.inf
    # tail rows counted on the edge: the value misses only their excursion
    assert value == pytest.approx(wasserstein_distance(ref, cur), rel=0.05)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.integers(-20, 20), min_size=1, max_size=80),
    st.lists(st.integers(-20, 20), min_size=1, max_size=80),
    st.lists(st.integers(-20, 20), min_size=2, max_size=12, unique=True),
    st.floats(0.1, 10.0),
)
def test_bounds_hold_for_any_small_sample_and_any_edges(
    a: list[int], b: list[int], edges: list[int], scale: float
) -> None:
    """Ties, empty bins, values on edges and outside them: the derivation must hold."""
    ref, cur = np.array(a) * scale / 3, np.array(b) * scale / 3
    e = np.unique(np.array(edges) * scale / 2)
    if e.size < 2:
        return
    r = np.bincount(numeric_cells(ref, e), minlength=e.size + 2)[:-1]
    c = np.bincount(numeric_cells(cur, e), minlength=e.size + 2)[:-1]
    value, bound = ks_statistic(r, c, e)  # type: ignore[misc]
    with np.errstate(divide="ignore"):  # the p-value of one-row samples; not under test
        exact = ks_2samp(ref, cur, method="asymp").statistic
    assert value - TOL <= exact <= value + bound + TOL
    w_value, w_bound = wasserstein(r, c, e)  # type: ignore[misc]
    assert abs(w_value - wasserstein_distance(ref, cur)) <= w_bound + 1e-9


def test_edge_cases_are_none_or_defined() -> None:
    e = (0.0, 1.0, 2.0)
    empty, some = np.zeros(4), np.array([0, 3, 1, 0])
    assert ks_statistic(empty, some) is None and ks_statistic(some, empty) is None
    assert wasserstein(empty, some, e) is None
    # noise may leave negative counts: read as 0
    assert ks_statistic(np.array([-2, 3, 1, 0]), some) == ks_statistic(some, some)
    only_inf = np.array([0, 0, 0, 5])  # every current row is +inf: overflow
    ks = ks_statistic(some, only_inf)
    assert ks is not None and ks[0] == 1.0
    assert wasserstein(some, only_inf, e) == (pytest.approx(1.25), np.inf)
    with pytest.raises(ValueError, match="layout"):
        ks_statistic(np.ones(4), np.ones(5))
    with pytest.raises(ValueError, match="edges make"):
        wasserstein(some, some, (0.0, 1.0))


# -- through compute_metrics: fine or coarse, and the privacy guards ------------------


def spec_and_stats(
    ref: np.ndarray, cur: np.ndarray, **derive: Any
) -> tuple[MonitoringSpec, WindowStats]:
    rng = np.random.default_rng(0)

    def cols(x: np.ndarray) -> dict[str, Any]:
        return {
            "x": x,
            "s": rng.choice(["a", "b"], x.size),
            "y": np.zeros(x.size),
            "p": np.zeros(x.size),
        }

    spec = derive_toy_spec(
        cols(ref),
        sensitive=["s"],
        **derive,
    )
    return spec, WindowStats.zero(spec).fold(spec, encode_columns(spec, cols(cur)))


def test_compute_metrics_reports_fine_distances_or_coarse_ones() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=50_000), rng.normal(0.05, 1.0, 50_000)
    cur[:500] = np.nan
    exact = ks_2samp(ref, cur[~np.isnan(cur)]).statistic
    fine = compute_metrics(*spec_and_stats(ref, cur))["drift"]["features"]["x"]
    coarse = compute_metrics(*spec_and_stats(ref, cur, fine_bins=0))["drift"]["features"]["x"]
    for m in (fine, coarse):
        assert m["ks"] - TOL <= exact <= m["ks"] + m["ks_bound"] + TOL
        assert m["wasserstein_bound"] is None  # normal tails overflow the reference range
        assert m["wasserstein"] == pytest.approx(0.05, abs=0.03)
    assert fine["ks_bound"] < 0.01 < coarse["ks_bound"]


def test_suppression_widens_the_ks_bound_and_noise_drops_bounds() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=20_000), rng.normal(0.1, 1.0, 5_000)
    spec, stats = spec_and_stats(ref, cur)
    exact = ks_2samp(ref, cur).statistic
    plain = compute_metrics(spec, stats)["drift"]["features"]["x"]
    shown = compute_metrics(spec, suppress_small_cells(stats, k=10))["drift"]["features"]["x"]
    assert shown["ks_bound"] > plain["ks_bound"]
    # suppression removes whole cells: the kept rows are a real sample, within s/n
    # of the full one in CDF, so the bracket widens by s/n on both sides
    assert abs(shown["ks"] - exact) <= shown["ks_bound"] + TOL
    assert shown["wasserstein_bound"] is None
    noised = compute_metrics(spec, add_laplace_noise(stats, 1.0, seed=1))["drift"]["features"]["x"]
    assert noised["ks_bound"] is None and noised["wasserstein_bound"] is None
    assert noised["ks"] == pytest.approx(plain["ks"], abs=0.05)


def test_all_missing_and_empty_windows_give_none() -> None:
    rng = np.random.default_rng(6)
    ref = rng.normal(size=2_000)
    spec, stats = spec_and_stats(ref, np.full(100, np.nan))
    m = compute_metrics(spec, stats)["drift"]["features"]["x"]
    assert {m[k] for k in ("ks", "ks_bound", "wasserstein", "wasserstein_bound")} == {None}
    m0 = compute_metrics(spec, WindowStats.zero(spec))["drift"]["features"]["x"]
    assert m0["ks"] is None and m0["wasserstein"] is None
