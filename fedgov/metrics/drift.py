"""Drift between a reference and a current count vector over the same cells.

Every function takes two count vectors in the same cell layout (see
:mod:`fedgov.spec`) and returns plain Python numbers, or ``None`` when the
measure is undefined (a side with no rows). Nothing returns NaN: a policy
must be able to tell "no drift" from "no data".

Cells empty on *both* sides carry no information and are dropped before any
computation, so a wide layout (many unused categories) does not dilute the
statistics, and the degrees of freedom count only cells that were seen.
Counts below zero (possible after differential-privacy noise) are read as 0.
Call :func:`drift_cells` first to leave the missing cell out: missingness is
reported on its own by :func:`missing_rate`.

KS and Wasserstein-1 from bins
------------------------------
:func:`ks_statistic` and :func:`wasserstein` read numeric counts over
``[underflow, bin_0 .. bin_{K-1}, overflow]`` (edges ``e_0 < .. < e_K``,
bin ``i`` = ``[e_i, e_{i+1})``, the last closed) and return ``(value,
bound)``: the exact statistic of the raw values (as
``scipy.stats.ks_2samp`` / ``scipy.stats.wasserstein_distance`` compute it)
lies within ``bound`` of ``value``. Write ``a_c``, ``b_c`` for the shares
of the reference and current rows in cell ``c``, and ``d_c`` for
``F_ref - F_cur`` just before cell ``c`` (``d_0 = 0``; known exactly, since
the counts give both CDFs at every edge). Inside cell ``c`` the difference
of the two CDFs can be anything in ``[d_c - b_c, d_c + a_c]``.

* KS: ``value = D_b = max_c |d_c|`` is the KS distance at the edges, a lower
  bound on the true ``D``; and ``D <= D_u = max_c max(|d_c + a_c|,
  |d_c - b_c|)``. ``bound = D_u - D_b <= max_c max(a_c, b_c)``: the largest
  single-cell share of either sample, under- and overflow included. With
  512 quantile bins of the reference this is about 0.002 for data like the
  reference; a current sample crowding into one cell makes it larger.
* Wasserstein-1 is ``integral |F_ref - F_cur| dx``. Inside a finite bin of
  width ``w_c`` the CDFs are taken as linear (mass spread evenly), which
  gives ``value``; the true integral over that bin lies in ``[w_c L_c, w_c
  U_c]`` with ``U_c = max(|d_c + a_c|, |d_c - b_c|)`` and ``L_c`` the distance
  from 0 to ``[d_c - b_c, d_c + a_c]``, so ``bound = max(sum w_c U_c -
  value, value - sum w_c L_c) <= sum_c w_c (a_c + b_c)``: bin widths weighted
  by the mass in them, about ``2 (e_K - e_0) / K`` for data like the
  reference. The under- and overflow cells are unbounded: rows there may
  lie anywhere beyond the edges, and counts alone cannot say how far. So when
  either sample has rows there, ``value`` counts them as sitting on the
  edge (their least contribution, zero) and ``bound`` is ``inf``. Any
  infinite value lands there too, as it should: W1 is then infinite.

Both are ``None`` when a side has no rows. :func:`fedgov.metrics.compute_metrics`
widens the KS bound by the suppressed share, and reports no bound for
noised counts (see there).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import chdtrc, rel_entr  # chdtrc(df, x) is scipy.stats.chi2.sf(x, df)

__all__ = [
    "PSI_EPSILON",
    "chi_square",
    "drift_cells",
    "jensen_shannon",
    "ks_statistic",
    "missing_rate",
    "psi",
    "psi_pvalue",
    "wasserstein",
]

PSI_EPSILON = 1e-4
"""Smoothing for PSI: each proportion ``p`` becomes ``(p + eps) / (1 + B * eps)``.

``ln(p / q)`` is infinite when a cell is empty on one side only, which is
common for small windows. Adding ``eps`` to every proportion of the ``B``
compared cells and renormalising keeps both sides distributions, bounds a
one-sided cell's contribution by about ``p * ln(p / eps)`` (0.69 for
``p = 0.1``), and barely moves PSI when every cell holds a share well above
``eps``.
"""

_KINDS = ("numeric", "categorical")


def _pair(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both vectors as float64 over cells seen on either side; None if a side is empty."""
    r = np.maximum(np.asarray(reference, dtype=np.float64), 0.0)
    c = np.maximum(np.asarray(current, dtype=np.float64), 0.0)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(f"count vectors differ in layout: {r.shape} vs {c.shape}")
    if r.sum() <= 0 or c.sum() <= 0:
        return None
    seen = (r > 0) | (c > 0)
    return r[seen], c[seen]


def drift_cells(counts: np.ndarray, kind: str) -> np.ndarray:
    """The cells drift is measured over: every cell but the trailing missing one.

    Both layouts end with the missing cell; under- and overflow (numeric) and
    unseen (categorical) stay in, since values moving out of the reference
    range are drift.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    return np.asarray(counts)[:-1]


def missing_rate(counts: np.ndarray) -> float | None:
    """Share of rows in the missing (last) cell; None for no rows."""
    arr = np.maximum(np.asarray(counts, dtype=np.float64), 0.0)
    total = arr.sum()
    return None if total <= 0 else float(arr[-1] / total)


def psi(
    reference: np.ndarray, current: np.ndarray, *, epsilon: float = PSI_EPSILON
) -> float | None:
    """Population stability index ``sum((q - p) * ln(q / p))`` of smoothed proportions.

    ``p`` are the reference proportions, ``q`` the current ones, each
    smoothed as described at :data:`PSI_EPSILON`. PSI is symmetric.
    """
    pair = _pair(reference, current)
    if pair is None:
        return None
    p, q = (_smooth(x, epsilon) for x in pair)
    return max(0.0, float(np.sum((q - p) * np.log(q / p))))


def psi_pvalue(
    reference: np.ndarray, current: np.ndarray, *, epsilon: float = PSI_EPSILON
) -> float | None:
    """p-value of "same distribution" given the PSI and both sample sizes.

    PSI is the symmetric Kullback-Leibler (Jeffreys) divergence. For two
    samples of ``n`` and ``m`` rows from one distribution over ``B`` cells,
    ``PSI / (1/n + 1/m)`` is asymptotically chi-square with ``B - 1``
    degrees of freedom (Yurdakul 2018, "Statistical properties of the
    population stability index"). So the same PSI is strong evidence of
    drift with many rows and weak evidence with few; a policy can gate on
    the p-value instead of a fixed PSI threshold. ``B`` counts the cells
    non-empty on either side; with one such cell the p-value is 1.
    """
    pair = _pair(reference, current)
    if pair is None:
        return None
    r, c = pair
    value = psi(r, c, epsilon=epsilon)
    assert value is not None
    dof = r.size - 1
    if dof < 1:
        return 1.0
    stat = value / (1.0 / r.sum() + 1.0 / c.sum())
    return float(chdtrc(dof, stat))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float | None:
    """Jensen-Shannon *distance*, base 2 (in [0, 1]).

    Equal to ``scipy.spatial.distance.jensenshannon(reference, current,
    base=2)``: the square root of the mean KL divergence of each
    distribution to their midpoint.
    """
    pair = _pair(reference, current)
    if pair is None:
        return None
    p, q = (x / x.sum() for x in pair)
    m = (p + q) / 2.0
    js = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / math.log(2.0)
    return float(math.sqrt(max(0.0, js / 2.0)))


def chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float, float] | None:
    """Pearson chi-square test of homogeneity on the 2 x B table: (statistic, p-value).

    As ``scipy.stats.chi2_contingency(table, correction=False)`` with the
    all-zero columns dropped (scipy refuses a zero expected frequency). With
    one remaining cell the statistic is 0 with p-value 1, as scipy gives for
    a 2 x 1 table.
    """
    pair = _pair(reference, current)
    if pair is None:
        return None
    table = np.vstack(pair)
    dof = table.shape[1] - 1
    if dof < 1:
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, float(chdtrc(dof, stat))


def _smooth(counts: np.ndarray, epsilon: float) -> np.ndarray:
    smoothed: np.ndarray = (counts / counts.sum() + epsilon) / (1.0 + epsilon * counts.size)
    return smoothed


def _shares(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both count vectors as shares of their totals (all cells kept); None if a side is empty."""
    r = np.maximum(np.asarray(reference, dtype=np.float64), 0.0)
    c = np.maximum(np.asarray(current, dtype=np.float64), 0.0)
    if r.shape != c.shape or r.ndim != 1 or r.size < 3:
        raise ValueError(
            f"numeric count vectors must share a layout of >= 3 cells: {r.shape} vs {c.shape}"
        )
    if r.sum() <= 0 or c.sum() <= 0:
        return None
    return r / r.sum(), c / c.sum()


def _before(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``F_a - F_b`` just before each cell (0 before the first)."""
    d = np.empty_like(a)
    d[0] = 0.0
    np.cumsum(a[:-1] - b[:-1], out=d[1:])
    return d


def ks_statistic(
    reference: np.ndarray,
    current: np.ndarray,
    edges: tuple[float, ...] | np.ndarray | None = None,
) -> tuple[float, float] | None:
    """Two-sample KS distance from numeric counts: ``(value, bound)``.

    ``value`` is the distance between the binned CDFs at the edges, and
    ``scipy.stats.ks_2samp(ref, cur).statistic`` lies in ``[value, value +
    bound]`` (derivation in the module docstring). Counts are over
    ``[underflow, bins.., overflow]``, as :func:`drift_cells` leaves them.

    Given the ``edges``, a half-open bin ``[v, nextafter(v))`` holds the
    single value ``v``, so both CDFs inside it are known and it adds nothing
    to the bound (derive_spec gives such cells to frequent values).
    """
    shares = _shares(reference, current)
    if shares is None:
        return None
    a, b = shares
    d = _before(a, b)
    lower = float(np.max(np.abs(d)))
    inside = np.maximum(np.abs(d + a), np.abs(d - b))
    if edges is not None:
        e = np.asarray(edges, dtype=np.float64)
        if e.ndim != 1 or e.size + 1 != a.size:
            raise ValueError(f"{e.size} edges make {e.size + 1} cells, got {a.size} counts")
        # Bins 0..K-2 are half-open (cells 1..K-1); the last bin is closed.
        point = e[1:-1] == np.nextafter(e[:-2], np.inf)
        inside[1:-2][point] = np.abs(d[1:-2][point])
    upper = float(np.max(inside))
    return min(lower, 1.0), max(0.0, min(upper, 1.0) - min(lower, 1.0))


def wasserstein(
    reference: np.ndarray, current: np.ndarray, edges: tuple[float, ...] | np.ndarray
) -> tuple[float, float] | None:
    """Wasserstein-1 distance from numeric counts over ``edges``: ``(value, bound)``.

    ``scipy.stats.wasserstein_distance(ref, cur)`` lies within ``bound`` of
    ``value``; ``bound`` is ``inf`` when either sample has rows outside
    ``[e_0, e_K]`` (module docstring). In the units of the feature.
    """
    e = np.asarray(edges, dtype=np.float64)
    shares = _shares(reference, current)
    if e.ndim != 1 or e.size + 1 != np.asarray(reference).size:
        raise ValueError(
            f"{e.size} edges make {e.size + 1} cells, got {np.asarray(reference).size} counts"
        )
    if shares is None:
        return None
    a, b = shares
    d = _before(a, b)
    width = np.diff(e)
    ds, aa, bb = d[1:-1], a[1:-1], b[1:-1]  # finite bins only
    de = ds + aa - bb
    crossing = ds * de < 0
    step = np.where(crossing, np.abs(ds - de), 1.0)
    linear = np.where(crossing, (ds * ds + de * de) / (2.0 * step), (np.abs(ds) + np.abs(de)) / 2)
    upper = np.maximum(np.abs(ds + aa), np.abs(ds - bb))
    lower = np.maximum(0.0, np.maximum(ds - bb, -(ds + aa)))
    value = float(np.sum(width * linear))
    tails = a[0] + b[0] + a[-1] + b[-1]
    if tails > 0:
        return value, math.inf
    bound = max(float(np.sum(width * upper)) - value, value - float(np.sum(width * lower)), 0.0)
    return value, bound
