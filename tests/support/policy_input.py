"""Policy inputs: a report as the policies read it (``input`` of ``data.fedgov.decision``).

The policy suites build their reports from these pieces, so the input's shape
is written once and each suite states only the figures its rules look at.
"""

from __future__ import annotations

import copy
from typing import Any

#: A week of January 2024: a window long past (freshness rules see it as stale).
WEEK = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-08T00:00:00Z"}

#: With :func:`changed`: the path is removed rather than set.
DROP = object()


def feature(psi: float | None, pvalue: float | None, missing_rate: float | None = 0.0) -> Any:
    """A feature's drift figures."""
    return {"psi": psi, "psi_pvalue": pvalue, "missing_rate": missing_rate}


def group(count: int, rate: float | None, tpr: float = 0.8, fpr: float = 0.1) -> Any:
    """One group of a sensitive attribute."""
    return {"count": count, "selection_rate": rate, "tpr": tpr, "fpr": fpr}


def attribute(
    parity_difference: float | None,
    parity_ratio: float | None,
    odds_difference: float | None,
    groups: dict[str, Any],
) -> Any:
    """A sensitive attribute's fairness figures and its groups."""
    return {
        "demographic_parity_difference": parity_difference,
        "demographic_parity_ratio": parity_ratio,
        "equalized_odds_difference": odds_difference,
        "groups": groups,
    }


def policy_input(
    *,
    features: dict[str, Any],
    fairness: dict[str, Any],
    silo: str = "hospital-a",
    jurisdiction: str = "EU",
    window: dict[str, str] = WEEK,
    sample_size: int = 1000,
) -> dict[str, Any]:
    """A report of model credit-risk version 3 as a policy reads it."""
    return {
        "model": {"id": "credit-risk", "version": "3"},
        "silo": silo,
        "jurisdiction": jurisdiction,
        "window": dict(window),
        "sample_size": sample_size,
        "drift": {"features": features},
        "fairness": fairness,
    }


def changed(doc: dict[str, Any], changes: dict[str, Any], sep: str = ".") -> dict[str, Any]:
    """A deep copy of ``doc`` with each path (keys joined by ``sep``) set, or removed (DROP)."""
    out = copy.deepcopy(doc)
    for path, value in changes.items():
        *parents, leaf = path.split(sep)
        node = out
        for key in parents:
            node = node[key]
        if value is DROP:
            del node[leaf]
        else:
            node[leaf] = value
    return out
