"""The EU AI Act report: post-market monitoring (Art. 72) of a high-risk system.

With the bias examination of Art. 10(2)(f) and the accuracy and
discriminatory-impact metrics of Annex IV 2(g) and 3. Sections: the system and
scope; monitored signals, their thresholds (from the silos' policy bundles) and
the reporting cadence; findings per period (policy decisions); drift over time
(PSI per silo x feature x period, a heat map); fairness over time per
jurisdiction; accuracy and discriminatory impact per group (merged figures,
each with its privacy path); corrective actions with their lineage.

Time series are bounded (:mod:`aggregator.reports.series`): at most a dozen
periods, each point the worst window of its period (a heat-map cell the highest
PSI of that silo's windows, a fairness point the lowest ratio of that
jurisdiction's windows); their reports are named by count and digest.
"""

from __future__ import annotations

import operator
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports import groups as g
from aggregator.reports.regimes._corrective import corrective_blocks, load_actions
from aggregator.reports.regimes._shared_eu import (
    in_scope_silos,
    merged_by_jurisdiction,
    monitoring_blocks,
)
from aggregator.reports.series import (
    history_in,
    period_label,
    period_unit,
    series_points,
    worst_per_period,
)
from aggregator.reports.source import ReportArgs, ReportSource, assemble, scope_of

__all__ = ["PSI_ALERT", "build", "drift_heatmap", "fairness_series"]

REGIME = "eu-ai-act"
PSI_ALERT = 0.2  # the PSI shown as drifted (the shipped bundles' psi_max)
THRESHOLD = g.FOUR_FIFTHS  # the four-fifths line on the fairness plots
MAX_DRAWN = 12  # silos in the heat map, jurisdictions in a fairness plot: the worst ones
MAX_LISTED = 50  # drift alerts listed in the report's table: the highest PSI
PER_SILO = "per-silo reports (each point is one silo's window as that silo released it)"


def drift_heatmap(
    points: dict[str, list[a.HistoryPoint]], unit: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Heat-map data (period x silo x feature, the highest PSI of the period) and the
    table rows of cells above :data:`PSI_ALERT`. ``points``: feature -> its PSI history."""
    worst = worst_per_period(
        (((p.silo, f), p) for f, pts in points.items() for p in pts), unit, operator.gt
    )
    periods = sorted({per for per, _ in worst})
    every = sorted({s for _, (s, _) in worst})
    silos = _most_drifted(worst, every)
    features = sorted(points)
    psi = [[[_value(worst.get((per, (s, f)))) for f in features] for s in silos] for per in periods]
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
        for (per, (s, f)), p in sorted(worst.items())
        if p.value is not None and p.value > PSI_ALERT
    ]
    data = {
        "periods": periods,
        "silos": silos,
        "silos_total": len(every),
        "features": features,
        "psi": psi,
        "threshold": PSI_ALERT,
    }
    return data, above


def _most_drifted(worst: dict[Any, a.HistoryPoint], silos: list[str]) -> list[str]:
    """At most :data:`MAX_DRAWN` silos, those with the highest PSI (a picture of a hundred
    rows shows nothing; the table lists every cell above the alert level)."""
    top: dict[str, float] = {}
    for (_, (silo, _)), p in worst.items():
        top[silo] = max(top.get(silo, 0.0), p.value or 0.0)
    kept = sorted(silos, key=lambda s: (-top.get(s, 0.0), s))[:MAX_DRAWN]
    return sorted(kept)


def _value(p: a.HistoryPoint | None) -> float | None:
    return None if p is None else p.value


def fairness_series(points: list[a.HistoryPoint], unit: str) -> list[dict[str, Any]]:
    """One series per jurisdiction: ``[period start, the lowest value of its windows]``,
    oldest first (windows where the ratio was not computable are left out)."""
    worst = worst_per_period(((p.jurisdiction, p) for p in points), unit, operator.lt)
    lines = series_points(worst, unit)
    if len(lines) <= MAX_DRAWN:
        return lines
    # Many jurisdictions: draw those that came lowest (the question is who fails the line).
    lowest = sorted(lines, key=lambda s: (min(v for _, v in s["points"]), s["jurisdiction"]))
    return sorted(lowest[:MAX_DRAWN], key=lambda s: s["jurisdiction"])


def _findings(
    rows: list[a.DecisionRow], central: list[a.CentralRow], unit: str
) -> list[dict[str, Any]]:
    by: dict[tuple[str, str, str], list[a.DecisionRow]] = {}
    for r in rows:
        by.setdefault((period_label(r.window_end_ms, unit), r.silo, r.jurisdiction), []).append(r)
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
            "period": period_label(c.evaluated_ms, unit),
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


def build(source: ReportSource, args: ReportArgs) -> dict[str, Any]:
    """The EU AI Act post-market monitoring report (a document)."""
    scope = scope_of(source, args)
    overall = scope.fairness
    silos = in_scope_silos(source, args)
    monitoring = monitoring_blocks(scope, args, silos)
    merged, figures = merged_by_jurisdiction(source, args, scope)
    drifts = (overall.metrics.get("drift") or {}).get("features") or {}
    features = sorted(f for f, m in drifts.items() if "psi" in m)
    attrs = g.attributes(overall, intersections=False)
    drift = {f: history_in(source, args, "psi", feature=f) for f in features}
    ratios = {
        at: history_in(source, args, "demographic_parity_ratio", attribute=at) for at in attrs
    }
    decisions = [
        r
        for r in source.decisions(jurisdiction_glob=args.jurisdictions)
        if r.model == args.model
        and r.version == overall.version
        and args.in_window(r.window_end_ms)
    ]
    central = [
        c
        for c in source.central(model_id=args.model)
        if c.version == overall.version and args.in_window(c.evaluated_ms)
    ]
    actions = load_actions(source, args)
    series = [p for pts in (*drift.values(), *ratios.values()) for p in pts]
    times = [p.window_end_ms for p in series] + [r.window_end_ms for r in decisions]
    times += [c.evaluated_ms for c in central] + actions.times
    unit = period_unit([*times, *scope.window_ends])

    heat, above = drift_heatmap(drift, unit)
    listed = sorted(
        sorted(above, key=lambda r: (-r["psi"], r["period"], r["silo"], r["feature"]))[:MAX_LISTED],
        key=lambda r: (r["period"], r["silo"], r["feature"]),
    )
    for f in features:
        figures[f"drift over time: {f}"] = PER_SILO
    fairness_blocks: list[dict[str, Any]] = []
    for at in attrs:
        figures[f"fairness over time: {at}"] = PER_SILO
        lines = fairness_series(ratios[at], unit)
        n_jurisdictions = len({p.jurisdiction for p in ratios[at] if p.value is not None})
        fairness_blocks.append(
            d.plot(
                "fairness_over_time",
                {
                    "series": lines,
                    "threshold": THRESHOLD,
                    "label": f"demographic parity ratio of {at}",
                },
                f"Demographic parity ratio of {at} per jurisdiction"
                + (
                    f" (the {len(lines)} that came lowest of {n_jurisdictions})"
                    if len(lines) < n_jurisdictions
                    else ""
                )
                + f", one point per {unit}: the "
                f"lowest of its {len(ratios[at])} window(s) in that {unit}; four-fifths line at "
                f"{THRESHOLD}. "
                + "; ".join(f"{s['jurisdiction']} last {s['points'][-1][1]:.3f}" for s in lines)
                + f". Privacy path: {PER_SILO}.",
            )
        )
    fairness_blocks.append(g.risk_table(merged))
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
                        ("Model", f"{args.model} version {overall.version}"),
                        ("Silos", len(silos)),
                        ("Jurisdictions", ", ".join(sorted({s.jurisdiction for s in silos}))),
                        ("Period unit", unit),
                        ("Windows in the time series", len({p.report_id for p in series})),
                    ]
                ),
            ],
        ),
        d.section("monitoring", "Monitored signals, thresholds and cadence", monitoring),
        d.section(
            "findings",
            "Findings per period",
            [
                d.table(
                    FINDING_COLUMNS,
                    _findings(decisions, central, unit),
                    notes=[
                        "The query API keeps each silo's latest decision per model version and "
                        "the newest central decision per group; earlier windows show in the "
                        "drift and fairness series below."
                    ],
                )
            ],
        ),
        d.section(
            "drift",
            "Drift over time",
            [
                d.plot(
                    "drift_heatmap",
                    heat,
                    f"PSI per silo and feature in {len(heat['periods'])} period(s) of a {unit}"
                    + (
                        f" (the {len(heat['silos'])} silos with the highest PSI of "
                        f"{heat['silos_total']})"
                        if len(heat["silos"]) < heat["silos_total"]
                        else ""
                    )
                    + "; "
                    f"each cell the highest PSI of the silo's windows in the {unit}; "
                    f"{len(above)} cell(s) above {PSI_ALERT}: "
                    + (
                        ", ".join(
                            f"{r['silo']} {r['feature']} ({r['period']})"
                            for r in listed[:MAX_DRAWN]
                        )
                        or "none"
                    )
                    + (f" and {len(above) - MAX_DRAWN} more" if len(above) > MAX_DRAWN else "")
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
                    listed,
                    notes=[
                        f"Cells with PSI above {PSI_ALERT}: the highest window of the {unit}."
                        + (
                            f" {len(above)} cells; the {len(listed)} with the highest PSI are "
                            f"listed (every one: `fedgov query drift --psi {PSI_ALERT}`)."
                            if len(listed) < len(above)
                            else ""
                        )
                    ],
                ),
            ],
        ),
        d.section("fairness", "Bias examination: fairness over time", fairness_blocks),
        d.section(
            "accuracy",
            "Accuracy and discriminatory impact per group",
            [
                g.accuracy_table(merged),
                g.impact_table(merged),
            ],
        ),
        d.section("corrective", "Corrective actions", corrective_blocks(actions)),
    ]
    title = f"Post-market monitoring (EU AI Act Art. 72): {args.model} {overall.version}"
    return assemble(
        REGIME,
        title,
        source,
        args,
        scope,
        sections,
        figures,
        times=times,
        series_ids=[p.report_id for p in series],
    )
