"""The discrete Gaussian mechanism: the default guard on counts that leave a silo in the clear.

What leaves in the clear
    A report's :class:`fedgov.stats.WindowStats`: ``rows``,
    ``outcome_missing``, every feature's coarse cells (and fine cells when
    the spec has them), every outcome table (each sensitive attribute and
    each intersection: groups x y_true x y_pred) and, with a score column,
    every score table (groups x y_true x score cell). Everything a silo
    derives for others from them (``metrics_json``, deny/warn strings, the
    per-group ``/metrics`` series) is computed from the noised counts, so it
    is post-processing and costs nothing more.

Mechanism
    Every count gets independent noise from the discrete Gaussian
    ``N_Z(0, sigma^2)`` (P(x) proportional to ``exp(-x^2 / (2 sigma^2))`` on
    the integers; Canonne, Kamath, Steinke, "The Discrete Gaussian for
    Differential Privacy", NeurIPS 2020), then is clipped at 0. Integer noise
    keeps counts integers without rounding; clipping is post-processing.

Sensitivity
    Neighbouring windows differ by one row. That row adds 1 to exactly one
    cell of each histogram it is counted in, and there are at most
    ``H = histogram_count(stats)`` of them (``rows``, ``outcome_missing``,
    each feature's coarse and fine cells, each outcome table, each score
    table). So the L2 sensitivity of the whole report, all linked tables
    together, is ``sqrt(H)``, and the discrete Gaussian with
    ``sigma^2 = H / (2 rho)`` makes the report ``rho``-zCDP (CKS 2020,
    Theorem 14; Bun & Steinke 2016). Accounting over windows and the
    conversion to (epsilon, delta) are in :mod:`fedgov.privacy._accounting`.
    ``sigma`` grows with ``sqrt(H)``: a spec with many features, fine cells
    or intersections pays in noise per cell, not in a weaker guarantee.

Caveats of this implementation (stated, not hidden)
    The sampler is CKS Algorithm 3 (rejection from a discrete Laplace of
    scale ``t = floor(sigma) + 1``), vectorised with numpy. It uses
    floating-point ``exp`` for the Bernoulli acceptance and numpy's
    geometric sampler for the discrete Laplace, not the exact rational
    arithmetic of the paper: the output distribution matches the discrete
    Gaussian up to floating-point error in the acceptance probabilities
    (relative ~1e-15), which is far below what an attacker can measure from
    a handful of reports, but is not a bit-exact proof. The outputs are
    integers, so the low-order-bit attack on floating-point Laplace noise
    (Mironov, CCS 2012) does not apply. The generator is numpy's PCG64
    seeded from the operating system's CSPRNG (:mod:`secrets`); PCG64 is
    not itself a CSPRNG, which matters only if an attacker sees enough raw
    outputs to reconstruct its state (they see noised counts, not noise).
    Tests pass ``rng`` to get reproducible draws; production leaves it None.

What it does not protect
    Group-level facts (a model treats a group worse) are meant to come out;
    DP bounds what can be learned about one row, not about a group of
    thousands. Each window and each linked table is covered, but the budget
    is per silo: a person present in several silos is protected separately
    in each. Exact secure sums (fedgov.secagg) are not DP; how they interact
    with the clear path is why a window in secure rounds is charged twice
    (:mod:`fedgov.privacy._accounting`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from fedgov.stats import FeatureCounts, OutcomeCounts, Privacy, ScoreCounts, WindowStats
from fedgov.stats._noise import discrete_gaussian, generator

__all__ = [
    "add_discrete_gaussian",
    "discrete_gaussian",
    "gaussian_sigma",
    "histogram_count",
    "with_noise",
]


def histogram_count(stats: WindowStats) -> int:
    """H: how many histograms one row is counted in, once each.

    ``rows`` and ``outcome_missing`` (one each), each feature's coarse cells,
    each feature's fine cells when present, each outcome table and each
    score table. The L2 sensitivity of the whole report is ``sqrt(H)``.
    """
    features = sum(1 + (fc.fine.size > 0) for fc in stats.features.values())
    return 2 + features + len(stats.outcomes) + len(stats.scores)


def gaussian_sigma(h: int, rho: float) -> float:
    """The discrete Gaussian sigma that makes ``h`` unit-sensitivity histograms ``rho``-zCDP."""
    rho = float(rho)
    if not 0.0 < rho < math.inf:
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
    if h < 1:
        raise ValueError(f"the number of histograms must be >= 1, got {h!r}")
    return math.sqrt(h / (2.0 * rho))


def add_discrete_gaussian(
    stats: WindowStats, rho: float, *, rng: np.random.Generator | int | None = None
) -> WindowStats:
    """``stats`` with N_Z(0, sigma^2) noise on every count, clipped at 0; ``rho``-zCDP.

    ``sigma = sqrt(H / (2 rho))`` with ``H = histogram_count(stats)`` (see
    the module docstring). The result's ``privacy`` records ``sigma`` and
    ``rho`` (the mechanism's; the agent's accountant replaces ``rho`` by
    what it charges and adds ``rho_total`` and ``delta``). Coarse and fine
    counts no longer add up, nor ``sum(cells) + suppressed == rows``: the
    aggregator skips that check for noised statistics.
    """
    if stats.privacy.k is not None:
        raise ValueError(
            "add noise before suppressing small cells: suppression is not differentially "
            "private, and noise added after it does not cover a cell that crossed k"
        )
    if stats.privacy.noised:
        raise ValueError("these statistics were already noised")
    sigma = gaussian_sigma(histogram_count(stats), rho)
    gen = generator(rng)

    def noisy(counts: np.ndarray) -> np.ndarray:
        out: np.ndarray = counts + discrete_gaussian(sigma, counts.shape, gen)
        return out

    return with_noise(stats, noisy, Privacy(rho=float(rho), sigma=sigma))


def with_noise(
    stats: WindowStats, noise: Callable[[np.ndarray], np.ndarray], privacy: Privacy
) -> WindowStats:
    """``stats`` with ``noise`` applied to every count vector (and to ``rows`` and
    ``outcome_missing``), rounded to integers and clipped at 0, recorded as ``privacy``.
    Suppression tallies are dropped: noised counts do not add up."""

    def noisy(counts: np.ndarray) -> np.ndarray:
        if counts.size == 0:
            return counts
        out: np.ndarray = np.clip(np.rint(noise(counts)), 0, None).astype(np.int64)
        return out

    features = {
        name: FeatureCounts(name, fc.kind, noisy(fc.counts), noisy(fc.fine))
        for name, fc in stats.features.items()
    }
    outcomes = {
        name: OutcomeCounts(name, oc.groups, noisy(oc.counts))
        for name, oc in stats.outcomes.items()
    }
    scores = {
        name: ScoreCounts(name, sc.groups, noisy(sc.counts)) for name, sc in stats.scores.items()
    }
    scalars = noisy(np.array([stats.rows, stats.outcome_missing], dtype=np.int64))
    return WindowStats(
        spec_digest=stats.spec_digest,
        rows=int(scalars[0]),
        features=features,
        outcomes=outcomes,
        outcome_missing=int(scalars[1]),
        privacy=privacy,
        scores=scores,
    )
