"""The numbers of a model page's plots, from the query API's typed answers.

Each function returns the data dict of one plot kind of the report document
(:mod:`aggregator.reports.document`, ``PLOTS``), so the dashboard and the
reports draw the same pictures from the same shapes:

* ``selection_rates``: ``{groups: [{name, rate, impact_ratio, small, withheld}],
  threshold}`` for one sensitive attribute (impact ratio = rate / highest rate;
  ``small``: the group holds under 2% of the rows; ``withheld``: rows a secure
  sum's release control withheld, or None);
* ``fairness_over_time``: ``{series: [{jurisdiction, points: [[t_ms, value]]}],
  threshold}``;
* ``drift_heatmap``: ``{silos, features, periods, psi}`` with ``psi[p][s][f]``
  the highest PSI of silo ``s``, feature ``f`` in period ``p`` (None: no row);
* ``timeline``: ``{events: [{t_ms, kind, label}]}``.

All pure functions of their inputs, sorted, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from aggregator.answers import DriftRow, Fairness, HistoryPoint, JobRow, ModelVersion
from aggregator.reports import groups
from aggregator.reports.series import period_label

__all__ = [
    "FOUR_FIFTHS",
    "SMALL_SHARE",
    "drift_heatmap",
    "fairness_over_time",
    "period_of",
    "selection_rates",
    "sensitive_attributes",
    "timeline",
]

FOUR_FIFTHS = groups.FOUR_FIFTHS
SMALL_SHARE = groups.SMALL_SHARE
MAX_PERIODS = 8  # the heat map shows the newest periods only


def sensitive_attributes(answer: Fairness) -> list[str]:
    """The sensitive attributes (and intersections) the merged figures cover, sorted."""
    return groups.attributes(answer)


def selection_rates(answer: Fairness, attribute: str) -> dict[str, Any]:
    """Selection rate and impact ratio of every group of ``attribute``: the report's own
    figures and plot data (:func:`aggregator.reports.groups.selection_plot`), withheld
    groups shown as withheld."""
    rows = [r for r in groups.impact_rows("*", answer) if r["attribute"] == attribute]
    data: dict[str, Any] = groups.selection_plot(attribute, rows, answer.source)["data"]
    return data


def fairness_over_time(
    points: Iterable[HistoryPoint], *, metric: str = "demographic_parity_ratio"
) -> dict[str, Any]:
    """One series per jurisdiction (per silo where a jurisdiction has several)."""
    points = list(points)
    silos_of: dict[str, set[str]] = defaultdict(set)
    for p in points:
        silos_of[p.jurisdiction].add(p.silo)
    series: dict[str, list[list[float]]] = defaultdict(list)
    for p in points:
        if p.value is None:
            continue
        name = (
            p.jurisdiction if len(silos_of[p.jurisdiction]) == 1 else f"{p.jurisdiction}/{p.silo}"
        )
        series[name].append([p.window_end_ms, p.value])
    return {
        "metric": metric,
        "series": [{"jurisdiction": k, "points": sorted(v)} for k, v in sorted(series.items())],
        "threshold": FOUR_FIFTHS,
    }


def period_of(t_ms: int) -> str:
    """The UTC day a window ending at ``t_ms`` belongs to."""
    return period_label(t_ms, "day")


def drift_heatmap(rows: Iterable[DriftRow]) -> dict[str, Any]:
    """Highest PSI per (period, silo, feature) over the newest :data:`MAX_PERIODS` days."""
    best: dict[tuple[str, str, str], float] = {}
    for r in rows:
        key = (period_of(r.window_end_ms), r.silo, r.feature)
        best[key] = max(best.get(key, r.psi), r.psi)
    periods = sorted({k[0] for k in best})[-MAX_PERIODS:]
    silos = sorted({k[1] for k in best if k[0] in periods})
    features = sorted({k[2] for k in best if k[0] in periods})
    psi = [[[best.get((p, s, f)) for f in features] for s in silos] for p in periods]
    return {"silos": silos, "features": features, "periods": periods, "psi": psi}


def timeline(jobs: Sequence[JobRow], versions: Sequence[ModelVersion]) -> dict[str, Any]:
    """Retraining jobs and the registry's versions (with their status), oldest first."""
    events = [
        {
            "t_ms": j.created_ms,
            "kind": "retraining",
            "label": f"job {j.job_id} ({j.state}): {j.reason}"
            + (f" -> candidate {j.candidate_version}" if j.candidate_version else ""),
        }
        for j in jobs
    ]
    events += [
        {
            "t_ms": v.created_ms,
            "kind": "promotion" if v.status == "promoted" else "version",
            "label": f"version {v.version} {v.status}"
            + (f" ({', '.join(v.aliases)})" if v.aliases else ""),
        }
        for v in versions
    ]
    return {"events": sorted(events, key=lambda e: (e["t_ms"], e["kind"], e["label"]))}
