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
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import rel_entr
from scipy.stats import chi2 as _chi2

__all__ = [
    "PSI_EPSILON",
    "chi_square",
    "drift_cells",
    "jensen_shannon",
    "missing_rate",
    "psi",
    "psi_pvalue",
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
    r = np.clip(np.asarray(reference, dtype=np.float64), 0.0, None)
    c = np.clip(np.asarray(current, dtype=np.float64), 0.0, None)
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
    arr = np.clip(np.asarray(counts, dtype=np.float64), 0.0, None)
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
    return float(_chi2.sf(stat, dof))


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
    return stat, float(_chi2.sf(stat, dof))


def _smooth(counts: np.ndarray, epsilon: float) -> np.ndarray:
    smoothed: np.ndarray = (counts / counts.sum() + epsilon) / (1.0 + epsilon * counts.size)
    return smoothed
