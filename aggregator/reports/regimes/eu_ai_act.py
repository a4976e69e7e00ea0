"""The EU AI Act report: post-market monitoring (Art. 72) of a high-risk system.

With the bias examination of Art. 10(2)(f) and the accuracy and
discriminatory-impact metrics of Annex IV 2(g) and 3. Sections: the system and
scope; monitored signals, their thresholds (from the silos' policy bundles) and
the reporting cadence; findings per period (policy decisions); drift over time
(PSI per silo x feature x period, a heat map); fairness over time per
jurisdiction; accuracy and discriminatory impact per group (merged figures,
each with its privacy path); corrective actions with their lineage.

Periods are UTC days when the evidence spans two days or more, else hours,
else minutes (:func:`~._shared_eu.period_unit`); a heat-map cell is the
highest PSI of that silo's windows in the period.
"""

from __future__ import annotations

from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.regimes import _groups as g
from aggregator.reports.regimes._corrective import corrective_blocks, load_actions
from aggregator.reports.regimes._shared_eu import (
    Args,
    Source,
    Trail,
    history,
    in_scope_silos,
    in_window,
    merged_by_jurisdiction,
    monitoring_blocks,
    period_of,
    period_unit,
    report,
    wanted_version,
)

__all__ = ["PSI_ALERT", "build", "drift_heatmap", "fairness_series"]

REGIME = "eu-ai-act"
PSI_ALERT = 0.2  # the PSI shown as drifted (the shipped bundles' psi_max)
PER_SILO = "per-silo reports (each point is one silo's window as that silo released it)"


def drift_heatmap(
    points: dict[str, list[a.HistoryPoint]], unit: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Heat-map data (period x silo x feature, the highest PSI of the period) and the
    table rows of cells above :data:`PSI_ALERT`. ``points``: feature -> its PSI history."""
    worst: dict[tuple[str, str, str], a.HistoryPoint] = {}
    for feature, pts in points.items():
        for p in pts:
            if p.value is None:
                continue
            key = (period_of(p.window_end_ms, unit), p.silo, feature)
            if key not in worst or p.value > (worst[key].value or 0.0):
                worst[key] = p
    periods = sorted({k[0] for k in worst})
    silos = sorted({k[1] for k in worst})
    features = sorted(points)
    psi = [[[_value(worst.get((per, s, f))) for f in features] for s in silos] for per in periods]
    above = [
        {
            "period": per,
            "silo": s,
            "jurisdiction": p.jurisdiction,
            "feature": f,
            "psi": p.value,
            "window_end_ms": p.window_end_ms,
            "report_id": p.report_id,
        }
        for (per, s, f), p in sorted(worst.items())
        if p.value is not None and p.value > PSI_ALERT
    ]
    data = {"unit": unit, "periods": periods, "silos": silos, "features": features, "psi": psi}
    return data, above


def _value(p: a.HistoryPoint | None) -> float | None:
    return None if p is None else p.value


def fairness_series(points: list[a.HistoryPoint]) -> list[dict[str, Any]]:
    """One series per jurisdiction: ``[t_ms, value]`` of each window, oldest first
    (windows where the ratio was not computable are left out)."""
    by: dict[str, list[list[Any]]] = {}
    for p in points:
        if p.value is not None:
            by.setdefault(p.jurisdiction, []).append([p.window_end_ms, p.value])
    return [{"jurisdiction": j, "points": sorted(pts)} for j, pts in sorted(by.items())]


def _findings(
    rows: list[a.DecisionRow], central: list[a.CentralRow], unit: str
) -> list[dict[str, Any]]:
    by: dict[tuple[str, str, str], list[a.DecisionRow]] = {}
    for r in rows:
        by.setdefault((period_of(r.window_end_ms, unit), r.silo, r.jurisdiction), []).append(r)
    table = [
        {
            "period": per,
            "where": f"{silo} ({jur})",
            "windows": len(rs),
            "denied": sum(1 for r in rs if not r.allow),
            "warned": sum(1 for r in rs if r.warn),
            "findings": "; ".join(sorted({m for r in rs for m in (*r.deny, *r.warn)})),
            "actions": ", ".join(sorted({x for r in rs for x in r.actions})),
        }
        for (per, silo, jur), rs in sorted(by.items())
    ]
    table += [
        {
            "period": period_of(c.evaluated_ms, unit),
            "where": f"central, group {c.group} ({len(c.silos)} silos, {c.source or 'merged'})",
            "windows": 1,
            "denied": 0 if c.allow else 1,
            "warned": 1 if c.warn else 0,
            "findings": "; ".join(sorted({*c.deny, *c.warn})),
            "actions": ", ".join(sorted(c.actions)),
        }
        for c in sorted(central, key=lambda c: (c.evaluated_ms, c.group, c.version))
    ]
    return sorted(table, key=lambda r: (r["period"], r["where"]))


FINDING_COLUMNS = [
    ("period", "Period", "text"),
    ("where", "Silo or central group", "text"),
    ("windows", "Evaluations", "int"),
    ("denied", "Denied", "int"),
    ("warned", "Warned", "int"),
    ("findings", "Deny reasons and warnings", "text"),
    ("actions", "Actions requested", "text"),
]


def build(source: Source, args: Args) -> dict[str, Any]:
    """The EU AI Act post-market monitoring report (a :func:`document`)."""
    trail = Trail()
    silos = in_scope_silos(source, args)
    monitoring = monitoring_blocks(source, args, silos, trail)
    overall, merged = merged_by_jurisdiction(source, args, silos, trail)
    drifts = ((overall.metrics.get("drift") or {}).get("features") or {}) if overall else {}
    features = sorted(f for f, m in drifts.items() if "psi" in m)
    attrs = g.attributes(overall, intersections=False) if overall else []
    drift = {f: history(source, args, "psi", trail, feature=f) for f in features}
    ratios = {
        at: history(source, args, "demographic_parity_ratio", trail, attribute=at) for at in attrs
    }
    decisions = [
        r
        for r in source.decisions(jurisdiction_glob=args.jurisdictions or "")
        if r.model == args.model
        and wanted_version(args, r.version)
        and in_window(args, r.window_end_ms)
    ]
    central = [
        c
        for c in source.central(model_id=args.model)
        if wanted_version(args, c.version) and in_window(args, c.evaluated_ms)
    ]
    trail.times.update(r.window_end_ms for r in decisions)
    trail.report_ids.update(r.report_id for r in decisions)
    trail.times.update(c.evaluated_ms for c in central)
    actions = load_actions(source, args, trail)
    unit = period_unit(trail.times)

    heat, above = drift_heatmap(drift, unit)
    for f in features:
        trail.paths[f"drift over time: {f}"] = PER_SILO
    fairness_blocks: list[dict[str, Any]] = []
    for at in attrs:
        trail.paths[f"fairness over time: {at}"] = PER_SILO
        series = fairness_series(ratios[at])
        fairness_blocks.append(
            d.plot(
                "fairness_over_time",
                {"attribute": at, "series": series, "threshold": 0.8, "source": PER_SILO},
                f"Demographic parity ratio of {at} per jurisdiction over time "
                f"({sum(len(s['points']) for s in series)} windows; four-fifths line at 0.8); "
                f"privacy path: {PER_SILO}.",
            )
        )
    fairness_blocks.append(g.risk_table(merged))
    versions = sorted(source.models(model_id=args.model), key=lambda v: v.version)
    sections = [
        d.section(
            "scope",
            "System and scope of monitoring",
            [
                d.text(
                    "Post-market monitoring under Art. 72 of Regulation (EU) 2024/1689, with the "
                    "bias examination of Art. 10(2)(f) and the accuracy and discriminatory-impact "
                    "metrics of Annex IV 2(g) and 3. Figures are merged from the silos' "
                    "statistics; no personal data left a silo."
                ),
                d.facts(
                    [
                        ("Model", args.model),
                        ("Version", args.version or "every version in the period"),
                        ("Silos", len(silos)),
                        ("Jurisdictions", ", ".join(sorted({s.jurisdiction for s in silos}))),
                        ("Period unit", unit),
                    ]
                ),
            ],
        ),
        d.section("monitoring", "Monitored signals, thresholds and cadence", monitoring),
        d.section(
            "findings",
            "Findings per period",
            [d.table(FINDING_COLUMNS, _findings(decisions, central, unit))],
        ),
        d.section(
            "drift",
            "Drift over time",
            [
                d.plot(
                    "drift_heatmap",
                    heat | {"threshold": PSI_ALERT, "source": PER_SILO},
                    f"PSI per silo and feature in {len(heat['periods'])} period(s); "
                    f"{len(above)} cell(s) above {PSI_ALERT}: "
                    + (
                        ", ".join(f"{r['silo']} {r['feature']} ({r['period']})" for r in above)
                        or "none"
                    )
                    + f"; privacy path: {PER_SILO}.",
                ),
                d.table(
                    [
                        ("period", "Period", "text"),
                        ("silo", "Silo", "text"),
                        ("jurisdiction", "Jurisdiction", "text"),
                        ("feature", "Feature", "text"),
                        ("psi", "PSI", "ratio"),
                        ("window_end_ms", "Window end", "time"),
                        ("report_id", "Report", "text"),
                    ],
                    above,
                    notes=[f"Cells with PSI above {PSI_ALERT}; the highest window of the period."],
                ),
            ],
        ),
        d.section("fairness", "Bias examination: fairness over time", fairness_blocks),
        d.section(
            "accuracy",
            "Accuracy and discriminatory impact per group",
            [
                g.accuracy_table(merged),
                d.table(g.IMPACT_COLUMNS, g.tables_rows(merged, g.impact_rows)),
            ],
        ),
        d.section("corrective", "Corrective actions", corrective_blocks(actions)),
    ]
    title = f"Post-market monitoring (EU AI Act Art. 72): {args.model}"
    return report(REGIME, title, args, trail, silos, versions, sections)
