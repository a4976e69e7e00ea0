"""What the EU AI Act and Colorado reports share: per-jurisdiction figures, policies, cadence.

Both regimes ask for the same post-market facts: which silos and jurisdictions
report, under which policy bundle and thresholds, how often, and the merged figures
per jurisdiction. Each helper here reads the query API
(:class:`~aggregator.reports.source.ReportSource`) for its part and returns document
blocks (:mod:`aggregator.reports.document`); nothing reads a clock, and every list is
sorted, so the same store gives the same bytes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.regimes._thresholds import known_bundles, threshold_rows
from aggregator.reports.series import in_report
from aggregator.reports.source import ReportArgs, ReportSource, Scope
from fedgov.errors import QueryError

__all__ = [
    "cadence_rows",
    "in_scope_silos",
    "merged_by_jurisdiction",
    "monitoring_blocks",
]

DAY_MS, HOUR_MS, MINUTE_MS = 86_400_000, 3_600_000, 60_000


def merged_by_jurisdiction(
    source: ReportSource, args: ReportArgs, scope: Scope
) -> tuple[list[tuple[str, a.Fairness]], dict[str, str]]:
    """The merged figures over every silo in scope, then per jurisdiction (a scope with no
    report is left out: its silos show in the cadence table), and each one's privacy path."""
    overall = args.jurisdictions or "*"
    out: list[tuple[str, a.Fairness]] = [(overall, scope.fairness)]
    for jurisdiction in scope.fairness.jurisdictions:
        if jurisdiction == overall:
            continue
        try:
            ans = source.fairness(
                args.model,
                model_version=scope.fairness.version,
                jurisdiction_glob=jurisdiction,
                since_ms=args.since_ms,
            )
        except QueryError:
            continue
        out.append((jurisdiction, ans))
    return out, {f"merged figures: {where}": ans.source for where, ans in out}


def in_scope_silos(source: ReportSource, args: ReportArgs) -> list[a.SiloRow]:
    """The silos in the jurisdictions asked for that serve the model, by silo id."""
    rows = source.silos(jurisdiction_glob=args.jurisdictions)
    return sorted(
        (s for s in rows if any(m.split("/", 1)[0] == args.model for m in s.models)),
        key=lambda s: s.silo,
    )


def cadence_rows(points: Sequence[a.HistoryPoint]) -> list[dict[str, Any]]:
    """Per silo: windows reported, first and last window end, median interval between them."""
    ends: dict[tuple[str, str], list[int]] = {}
    for p in points:
        ends.setdefault((p.silo, p.jurisdiction), []).append(p.window_end_ms)
    rows = []
    for (silo, jurisdiction), ts in sorted(ends.items()):
        ts = sorted(set(ts))
        gaps = [b - a_ for a_, b in zip(ts, ts[1:], strict=False)]
        median = int(statistics.median(gaps)) if gaps else None
        rows.append(
            {
                "silo": silo,
                "jurisdiction": jurisdiction,
                "windows": len(ts),
                "first_ms": ts[0],
                "last_ms": ts[-1],
                "median_interval_ms": median,
                "median_interval": _duration(median),
            }
        )
    return rows


def _duration(ms: int | None) -> str:
    if ms is None:
        return "one window: no interval yet"
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("min", MINUTE_MS)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms / 1000:.1f} s"


def monitoring_blocks(
    scope: Scope, args: ReportArgs, silos: Sequence[a.SiloRow]
) -> list[dict[str, Any]]:
    """Silos covered, policies and thresholds per jurisdiction, and reporting cadence."""
    bundles = known_bundles(args.policies)
    unknown = sorted({s.policy_bundle_digest for s in silos} - set(bundles))
    windows = in_report(scope.sample_sizes, args)
    notes = [
        f"bundle {digest or '(none reported)'}: its contents are not known to this report "
        "(not the shipped default); pass its folder with --policy DIR to show its thresholds"
        for digest in unknown
    ]
    return [
        d.table(
            [
                ("silo", "Silo", "text"),
                ("jurisdiction", "Jurisdiction", "text"),
                ("models", "Models served", "text"),
                ("policy_bundle_digest", "Policy bundle", "digest"),
            ],
            (
                {
                    "silo": s.silo,
                    "jurisdiction": s.jurisdiction,
                    "models": ", ".join(sorted(s.models)),
                    "policy_bundle_digest": s.policy_bundle_digest,
                }
                for s in silos
            ),
        ),
        d.table(
            [
                ("bundle", "Policy bundle", "digest"),
                ("jurisdiction", "Jurisdiction", "text"),
                ("silos", "Silos", "text"),
                ("threshold", "Threshold", "text"),
                ("value", "Value", "text"),
                ("signal", "Monitored signal", "text"),
            ],
            threshold_rows(silos, bundles),
            notes=notes,
        ),
        d.table(
            [
                ("silo", "Silo", "text"),
                ("jurisdiction", "Jurisdiction", "text"),
                ("windows", "Windows reported", "int"),
                ("first_ms", "First window end", "time"),
                ("last_ms", "Last window end", "time"),
                ("median_interval", "Cadence (median interval)", "text"),
            ],
            cadence_rows(windows),
            notes=["Cadence: the median interval between a silo's window ends in the period."],
        ),
    ]
