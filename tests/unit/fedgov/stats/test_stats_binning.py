"""The fast Binner counts exactly what numeric_cells (plain searchsorted) counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.stats import _binning, _kernel, numeric_cells
from fedgov.stats._binning import Binner, binner


def reference_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(numeric_cells(x, edges), minlength=len(edges) + 2)


def probe_values(edges: np.ndarray, rng: np.random.Generator, n: int = 5000) -> np.ndarray:
    """Values where binning goes wrong if it goes wrong: on, just below and just above
    every edge, far outside, infinities, NaN, both zeros, and a spread in between."""
    with np.errstate(over="ignore"):
        near = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    i = rng.integers(0, edges.size - 1, n)
    t = rng.random(n)
    spread = edges[i] * (1 - t) + edges[i + 1] * t  # inside the bins, without overflow
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, -5e-324])
    x = np.concatenate([near, spread, special, rng.choice(edges, n)])
    rng.shuffle(x)
    return x


DISTRIBUTIONS = {
    "normal": lambda r, n: r.normal(size=n),
    "lognormal": lambda r, n: r.lognormal(size=n),
    "cauchy": lambda r, n: r.standard_cauchy(size=n),
    "pareto": lambda r, n: r.pareto(0.5, size=n),
    "poisson": lambda r, n: r.poisson(3, size=n).astype(float),
    "offset": lambda r, n: 1e6 + r.normal(size=n),
    "tiny": lambda r, n: 1e-300 * r.normal(size=n),
    "zero-inflated": lambda r, n: np.where(r.random(n) < 0.5, 0.0, r.exponential(size=n)),
    "far-bimodal": lambda r, n: np.where(r.random(n) < 0.5, 0.0, 1e9) + r.normal(size=n),
}


def quantile_case(name: str, bins: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantile edges of one distribution, and probe values plus fresh draws of it."""
    rng = np.random.default_rng(seed)
    data = DISTRIBUTIONS[name](rng, 20_000)
    edges = np.unique(np.quantile(data, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        edges = np.array([edges[0] - 1, edges[0] + 1])
    x = np.concatenate([probe_values(edges, rng), DISTRIBUTIONS[name](rng, 20_000)])
    return edges, x


@pytest.mark.parametrize("bins", [1, 10, 512])
@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantile_edges_of_many_shapes(name: str, bins: int) -> None:
    edges, x = quantile_case(name, bins, seed=7)
    b = Binner(edges)
    np.testing.assert_array_equal(b.counts(x), reference_counts(x, edges))
    np.testing.assert_array_equal(b.cells(x), numeric_cells(x, edges))


def test_both_paths_are_exercised() -> None:
    """Heavy tails take the logarithmic grid; a far two-cluster layout falls back."""
    rng = np.random.default_rng(0)
    cauchy = np.unique(np.quantile(rng.standard_cauchy(50_000), np.linspace(0, 1, 513)))
    assert Binner(cauchy).method == "grid" and Binner(cauchy).steps <= _binning.MAX_STEPS
    far = DISTRIBUTIONS["far-bimodal"](rng, 50_000)
    far_edges = np.unique(np.quantile(far, np.linspace(0, 1, 513)))
    b = Binner(far_edges)
    assert b.method == "searchsorted"
    x = probe_values(far_edges, rng)
    np.testing.assert_array_equal(b.counts(x), reference_counts(x, far_edges))
    np.testing.assert_array_equal(b.cells(x), numeric_cells(x, far_edges))


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(finite, min_size=2, max_size=40, unique=True),
    st.lists(st.one_of(finite, st.sampled_from([np.nan, np.inf, -np.inf, -0.0])), max_size=60),
    st.integers(0, 2**32 - 1),
)
def test_arbitrary_edges_and_values(edges: list[float], values: list[float], seed: int) -> None:
    e = np.unique(np.array(edges, dtype=np.float64) + 0.0)  # -0.0 and 0.0 are one edge
    if e.size < 2:
        return
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.array(values, dtype=np.float64), probe_values(e, rng, n=50)])
    np.testing.assert_array_equal(Binner(e).counts(x), reference_counts(x, e))
    np.testing.assert_array_equal(Binner(e).cells(x), numeric_cells(x, e))
    # The compiled fold (test_stats_kernel.py) reads the binner's tables: same counts.
    np.testing.assert_array_equal(_kernel.numeric_counts(Binner(e), x), reference_counts(x, e))


def test_blocks_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    edges = np.unique(np.quantile(rng.normal(size=1000), np.linspace(0, 1, 65)))
    x = probe_values(edges, rng, n=3000)
    monkeypatch.setattr(_binning, "BLOCK_ROWS", 97)
    np.testing.assert_array_equal(Binner(edges).counts(x), reference_counts(x, edges))
    np.testing.assert_array_equal(Binner(edges).cells(x), numeric_cells(x, edges))


def test_dense_and_sparse_blocks_alternate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks where most values share a grid cell with an edge are compared whole;
    the others are tallied per grid cell. Either way, and switching between them
    within a call and across calls, the counts are exact."""
    rng = np.random.default_rng(11)
    edges = np.unique(np.quantile(rng.lognormal(size=20_000), np.linspace(0, 1, 513)))
    b = Binner(edges)
    assert b.method == "grid"
    monkeypatch.setattr(_binning, "BLOCK_ROWS", 500)
    dense = rng.choice(edges[:-1], 3000) + 1e-12  # every value right beside an edge
    sparse = rng.uniform(edges[-2], edges[-1], 3000)  # the wide last bin: no edge near
    long_sparse = rng.uniform(edges[-2], edges[-1], 500 * (_binning.RECHECK_BLOCKS + 2))
    for x, dense_after in ((dense, True), (long_sparse, False), (dense, True)):
        np.testing.assert_array_equal(b.counts(x), reference_counts(x, edges))
        assert (b._dense_blocks > 0) == dense_after  # the path switched, both ways
    for x in (sparse, np.concatenate([sparse, dense, sparse] * 5), probe_values(edges, rng)):
        np.testing.assert_array_equal(b.counts(x), reference_counts(x, edges))


@pytest.mark.parametrize("nan_share", [0.0, 0.01, 0.5])
def test_missing_values_are_counted_on_the_tally_path(nan_share: float) -> None:
    """NaN lands in grid cell 0 (it holds e_0), so it is among the compared values
    and counted there; with many NaN the block is dense and compared whole."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=50_000)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 513)))
    x[rng.random(x.size) < nan_share] = np.nan
    b = Binner(edges)
    np.testing.assert_array_equal(b.counts(x), reference_counts(x, edges))
    assert b.counts(x)[-1] == np.count_nonzero(np.isnan(x))
    assert (b._dense_blocks == 0) == (nan_share < 0.1)  # which path counted them


def test_empty_input_and_bad_edges() -> None:
    assert Binner([0.0, 1.0]).counts(np.array([])).tolist() == [0, 0, 0, 0]
    assert Binner([0.0, 1.0]).cells(np.array([])).tolist() == []
    for bad in ([0.0], [1.0, 0.0], [0.0, 0.0], [0.0, np.inf], [np.nan, 1.0]):
        with pytest.raises(ValueError, match="strictly increasing"):
            Binner(bad)


def test_binners_are_cached_per_edge_tuple() -> None:
    assert binner((0.0, 1.0, 2.0)) is binner((0.0, 1.0, 2.0))
