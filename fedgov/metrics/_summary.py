"""The metrics a policy reads, computed from window statistics.

One function, :func:`compute_metrics`, turns a :class:`~fedgov.stats.WindowStats`
into the JSON-able document that is the policy input (and part of a report).
It runs unchanged at a silo on local statistics and at the aggregator on
merged ones, which is why merged metrics equal pooled metrics exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fedgov.metrics import drift, fairness, scores
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import FeatureCounts, WindowStats

__all__ = ["compute_metrics"]


def compute_metrics(spec: MonitoringSpec, stats: WindowStats) -> dict[str, Any]:
    """Drift and fairness sections of the policy input; plain Python values, no NaN.

    ``drift.features.<name>`` has ``missing_rate`` for every feature and, for
    features with a reference profile in the spec, ``psi``, ``psi_pvalue``,
    ``jensen_shannon``, ``chi2``, ``chi2_pvalue`` and
    ``reference_missing_rate``; numeric ones also ``ks``, ``ks_bound``,
    ``wasserstein`` and ``wasserstein_bound`` (over the fine edges when the
    spec has them, else over the coarse ones; see :mod:`fedgov.metrics.drift`
    for what the bounds guarantee). ``fairness.<attribute>`` has one entry per
    sensitive attribute and per intersection (``"a*b"``). A value that is
    undefined (no rows on a side, no eligible group) is ``None``; so is a
    bound that does not exist (rows beyond the edges for Wasserstein).

    With a score column in the spec, each ``fairness.<attribute>`` also has
    ``auc_difference`` and ``max_calibration_error``, and each of its groups
    ``scored``, ``auc``, ``auc_bound``, ``calibration_error`` and
    ``calibration_error_bound``, ``scoring_rate`` and ``scoring_rate_upper``
    (with ``score_cut_low``/``score_cut`` beside ``auc_difference``; see
    :mod:`fedgov.metrics.scores` for the
    definitions and what the bounds guarantee). Statistics without score
    histograms (reports made before them) leave these keys out.

    Without privacy guards the exact KS lies in ``[ks, ks + ks_bound]``;
    with them, ``|ks - exact| <= ks_bound`` still holds where a bound is
    given. Suppression removes whole cells, so the kept rows are a real
    sample whose CDF is within ``s / n`` of the full one (``s`` of ``n``
    current rows suppressed): that is added to ``ks_bound``. The removed
    rows may have been in the unbounded tails, so ``wasserstein_bound`` is
    then ``None``. Noise has no deterministic bound: with
    ``privacy.epsilon`` or ``privacy.sigma`` set, both bounds are ``None``.
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
            if isinstance(f, NumericFeature):
                entry.update(_distances(spec, f, stats.features[f.name], stats.privacy.noised))
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
        sc = stats.scores.get(name)
        if sc is not None:
            for group, extra in scores.group_score_metrics(sc, spec.score_edges).items():
                fair[name]["groups"][group].update(extra)
            fair[name]["auc_difference"] = scores.auc_difference(sc, spec.score_edges)
            fair[name]["max_calibration_error"] = scores.max_calibration_error(sc, spec.score_edges)
            low, cut, rates = scores.scoring_rates(sc, spec.score_edges)
            fair[name].update(score_cut_low=low, score_cut=cut)
            for group, extra in rates.items():
                fair[name]["groups"][group].update(extra)
    return {
        "sample_size": int(stats.rows),
        "drift": {"features": features},
        "fairness": fair,
    }


def _distances(
    spec: MonitoringSpec, f: NumericFeature, fc: FeatureCounts, noised: bool
) -> dict[str, float | None]:
    """KS and Wasserstein-1 with their bounds, at the finest resolution both sides have."""
    if f.name in spec.reference_fine and fc.fine.size == f.n_fine_cells:
        ref, cur = spec.reference_fine[f.name], fc.fine
        edges, suppressed = f.fine_edges, fc.fine_suppressed
    else:
        ref, cur = spec.reference[f.name], fc.counts
        edges, suppressed = f.edges, fc.suppressed
    r = drift.drift_cells(np.asarray(ref, dtype=np.int64), "numeric")
    c = drift.drift_cells(np.asarray(cur, dtype=np.int64), "numeric")
    ks = drift.ks_statistic(r, c, edges)
    w1 = drift.wasserstein(r, c, edges)
    ks_bound = None if ks is None else ks[1]
    w1_bound = None if w1 is None else w1[1]
    if suppressed and ks_bound is not None:
        # Suppressed rows may have been missing ones: s / (n + s) is the
        # largest share they can be of the current non-missing rows.
        kept = float(np.clip(c, 0, None).sum())
        ks_bound = min(1.0, ks_bound + suppressed / (kept + suppressed))
        w1_bound = None
    if noised:
        ks_bound = w1_bound = None
    return {
        "ks": None if ks is None else _finite(ks[0]),
        "ks_bound": _finite(ks_bound),
        "wasserstein": None if w1 is None else _finite(w1[0]),
        "wasserstein_bound": _finite(w1_bound),
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
