"""Metrics derived from statistics by pure functions.

:mod:`fedgov.metrics.drift` compares count vectors (PSI with a p-value,
Jensen-Shannon, chi-square, missing rate, and KS and Wasserstein-1 with
error bounds); :mod:`fedgov.metrics.fairness`
reads per-group confusion counts as fairlearn defines its metrics;
:func:`compute_metrics` assembles both into the policy input.
"""

from fedgov.metrics import drift, fairness
from fedgov.metrics._summary import compute_metrics
from fedgov.metrics.drift import (
    PSI_EPSILON,
    chi_square,
    drift_cells,
    jensen_shannon,
    ks_statistic,
    missing_rate,
    psi,
    psi_pvalue,
    wasserstein,
)
from fedgov.metrics.fairness import (
    demographic_parity_difference,
    demographic_parity_ratio,
    disparate_impact,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    group_metrics,
)

__all__ = [
    "PSI_EPSILON",
    "chi_square",
    "compute_metrics",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact",
    "drift",
    "drift_cells",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "fairness",
    "group_metrics",
    "jensen_shannon",
    "ks_statistic",
    "missing_rate",
    "psi",
    "psi_pvalue",
    "wasserstein",
]
