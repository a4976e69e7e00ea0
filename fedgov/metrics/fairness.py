"""Group fairness metrics from confusion counts, as fairlearn defines them.

Every function reads an :class:`~fedgov.stats.OutcomeCounts` (counts indexed
``[group, y_true, y_pred]``) and returns plain Python numbers, so the same
call gives the local figure at a silo and the exact cross-silo figure on
merged counts.

Definitions follow ``fairlearn.metrics`` (0.15), which the tests use as the
oracle:

* a between-group *difference* is ``max - min`` over groups, a *ratio* is
  ``min / max``;
* only **declared** groups with at least one row take part; the
  ``__other__`` and ``__missing__`` slots are reported per group but never
  enter a difference or ratio (fairlearn would never see those rows);
* the true positive rate of a group with no positive rows is **0.0**, and
  the false positive rate of a group with no negative rows is **0.0**: that
  is what fairlearn returns (it takes the rates from
  ``sklearn.metrics.confusion_matrix(normalize="true")``, which turns the
  0/0 into 0). We match it, and report ``positives``/``negatives`` beside
  each rate so a policy can require support before trusting a rate;
* where fairlearn returns NaN we return ``None``: a ratio whose largest rate
  is 0 (0/0), and any metric with no eligible group.

``equalized_odds_ratio`` is the smaller of the TPR and FPR ratios. When one
of them is undefined fairlearn's result depends on their order (its
``min()`` over a Series holding NaN returns NaN if the TPR ratio is NaN,
and the TPR ratio if the FPR ratio is NaN); we return the defined one in
both cases, and ``None`` only when both are undefined.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedgov.stats import OutcomeCounts

__all__ = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "group_metrics",
]


def _div(num: float, den: float) -> float | None:
    return None if den <= 0 else float(num / den)


def _rate_or_zero(num: float, den: float) -> float:
    """fairlearn's convention for a 0/0 rate of a non-empty group."""
    return 0.0 if den <= 0 else float(num / den)


def group_metrics(outcomes: OutcomeCounts) -> dict[str, dict[str, Any]]:
    """Per group: ``count``, ``positives``, ``negatives``, ``selection_rate``, ``tpr``,
    ``fpr``, ``accuracy``.

    Rates are None for a group with no rows; ``tpr``/``fpr`` are 0.0 for a
    group with rows but no positives/negatives (fairlearn's value).
    """
    out: dict[str, dict[str, Any]] = {}
    for group, c in zip(outcomes.groups, np.asarray(outcomes.counts, dtype=np.int64), strict=True):
        tn, fp, fn, tp = (int(v) for v in c.reshape(4))
        n, pos, neg = tn + fp + fn + tp, tp + fn, tn + fp
        out[group] = {
            "count": n,
            "positives": pos,
            "negatives": neg,
            "selection_rate": _div(tp + fp, n),
            "tpr": None if n == 0 else _rate_or_zero(tp, pos),
            "fpr": None if n == 0 else _rate_or_zero(fp, neg),
            "accuracy": _div(tp + tn, n),
        }
    return out


def _rates(outcomes: OutcomeCounts, which: str) -> np.ndarray:
    """Rates of the declared groups with at least one row (fairlearn's groups)."""
    c = np.asarray(outcomes.counts, dtype=np.float64)
    n = c.sum(axis=(1, 2))
    keep = outcomes.declared_mask() & (n > 0)
    c, n = c[keep], n[keep]
    tn, fp, fn, tp = c[:, 0, 0], c[:, 0, 1], c[:, 1, 0], c[:, 1, 1]
    if which == "selection_rate":
        num, den = tp + fp, n
    elif which == "tpr":
        num, den = tp, tp + fn
    else:
        num, den = fp, fp + tn
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, 0.0)


def _difference(rates: np.ndarray) -> float | None:
    return None if rates.size == 0 else float(rates.max() - rates.min())


def _ratio(rates: np.ndarray) -> float | None:
    if rates.size == 0 or rates.max() <= 0:
        return None
    return float(rates.min() / rates.max())


def demographic_parity_difference(outcomes: OutcomeCounts) -> float | None:
    """Largest minus smallest selection rate ``P[h(X)=1 | A=a]`` across groups."""
    return _difference(_rates(outcomes, "selection_rate"))


def demographic_parity_ratio(outcomes: OutcomeCounts) -> float | None:
    """Smallest over largest selection rate; None if every selection rate is 0."""
    return _ratio(_rates(outcomes, "selection_rate"))


def disparate_impact(outcomes: OutcomeCounts) -> float | None:
    """The demographic parity ratio; the four-fifths rule asks for >= 0.8."""
    return demographic_parity_ratio(outcomes)


def equal_opportunity_difference(outcomes: OutcomeCounts) -> float | None:
    """Largest minus smallest true positive rate across groups."""
    return _difference(_rates(outcomes, "tpr"))


def equal_opportunity_ratio(outcomes: OutcomeCounts) -> float | None:
    """Smallest over largest true positive rate; None if every TPR is 0."""
    return _ratio(_rates(outcomes, "tpr"))


def equalized_odds_difference(outcomes: OutcomeCounts) -> float | None:
    """The larger of the TPR difference and the FPR difference (fairlearn "worst_case")."""
    parts = [_difference(_rates(outcomes, w)) for w in ("tpr", "fpr")]
    defined = [p for p in parts if p is not None]
    return max(defined) if defined else None


def equalized_odds_ratio(outcomes: OutcomeCounts) -> float | None:
    """The smaller of the TPR ratio and the FPR ratio, over those that are defined."""
    parts = [_ratio(_rates(outcomes, w)) for w in ("tpr", "fpr")]
    defined = [p for p in parts if p is not None]
    return min(defined) if defined else None
