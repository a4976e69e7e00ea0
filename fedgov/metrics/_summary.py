"""The metrics a policy reads, computed from window statistics.

One function, :func:`compute_metrics`, turns a :class:`~fedgov.stats.WindowStats`
into the JSON-able document that is the policy input (and part of a report).
It runs unchanged at a silo on local statistics and at the aggregator on
merged ones, which is why merged metrics equal pooled metrics exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedgov.metrics import drift, fairness
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

__all__ = ["compute_metrics"]


def compute_metrics(spec: MonitoringSpec, stats: WindowStats) -> dict[str, Any]:
    """Drift and fairness sections of the policy input; plain Python values, no NaN.

    ``drift.features.<name>`` has ``missing_rate`` for every feature and, for
    features with a reference profile in the spec, ``psi``, ``psi_pvalue``,
    ``jensen_shannon``, ``chi2``, ``chi2_pvalue`` and
    ``reference_missing_rate``. ``fairness.<attribute>`` has one entry per
    sensitive attribute and per intersection (``"a*b"``). A value that is
    undefined (no rows on a side, no eligible group) is ``None``.
    """
    if stats.spec_digest != spec.digest:
        raise ValueError(
            "compute_metrics: the statistics were not counted under this spec "
            f"({stats.spec_digest[:12]} vs {spec.digest[:12]})"
        )
    features: dict[str, dict[str, Any]] = {}
    for f in spec.features:
        counts = stats.features[f.name].counts
        entry: dict[str, Any] = {"missing_rate": drift.missing_rate(counts)}
        if f.name in spec.reference:
            ref = np.asarray(spec.reference[f.name], dtype=np.int64)
            r, c = drift.drift_cells(ref, f.kind), drift.drift_cells(counts, f.kind)
            chi = drift.chi_square(r, c)
            entry.update(
                psi=drift.psi(r, c),
                psi_pvalue=drift.psi_pvalue(r, c),
                jensen_shannon=drift.jensen_shannon(r, c),
                chi2=None if chi is None else chi[0],
                chi2_pvalue=None if chi is None else chi[1],
                reference_missing_rate=drift.missing_rate(ref),
            )
        features[f.name] = entry

    fair: dict[str, dict[str, Any]] = {}
    for name, oc in stats.outcomes.items():
        fair[name] = {
            "demographic_parity_difference": fairness.demographic_parity_difference(oc),
            "demographic_parity_ratio": fairness.demographic_parity_ratio(oc),
            "equalized_odds_difference": fairness.equalized_odds_difference(oc),
            "equalized_odds_ratio": fairness.equalized_odds_ratio(oc),
            "equal_opportunity_difference": fairness.equal_opportunity_difference(oc),
            "groups": fairness.group_metrics(oc),
        }
    return {
        "sample_size": int(stats.rows),
        "drift": {"features": features},
        "fairness": fair,
    }
