"""Metrics derived from statistics by pure functions.

:mod:`fedgov.metrics.drift` compares count vectors (PSI with a p-value,
Jensen-Shannon, chi-square, missing rate, and KS and Wasserstein-1 with
error bounds); :mod:`fedgov.metrics.fairness`
reads per-group confusion counts as fairlearn defines its metrics;
:mod:`fedgov.metrics.scores` reads per-group score histograms (ROC AUC and
calibration error, with error bounds); :func:`compute_metrics` assembles both into the policy input.
"""

from fedgov.metrics import drift, fairness, scores
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
from fedgov.metrics.scores import (
    auc_difference,
    binned_auc,
    binned_calibration_error,
    group_score_metrics,
    max_calibration_error,
)

__all__ = [
    "PSI_EPSILON",
    "auc_difference",
    "binned_auc",
    "binned_calibration_error",
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
    "group_score_metrics",
    "jensen_shannon",
    "ks_statistic",
    "max_calibration_error",
    "missing_rate",
    "psi",
    "psi_pvalue",
    "scores",
    "wasserstein",
]
