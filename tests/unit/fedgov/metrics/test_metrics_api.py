"""The public surface of fedgov.metrics is what __all__ says."""

from __future__ import annotations

from support.exports import assert_exports

import fedgov.metrics


def test_exported_names() -> None:
    assert_exports(
        fedgov.metrics,
        {
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
        },
    )
