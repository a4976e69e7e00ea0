"""What the EU AI Act and Colorado reports share: scope, policies, cadence, corrective actions.

Both regimes ask for the same post-market facts: which silos and jurisdictions
report, under which policy bundle and thresholds, how often, and what was done
when a gate failed (retraining jobs, candidates, promotions). Each helper here
reads the query API once for its part and returns document blocks
(:mod:`aggregator.reports.document`); nothing reads a clock, and every list is
sorted, so the same store gives the same bytes.

:class:`Source` and :class:`Args` are the subset of
:class:`aggregator.query_client.QueryClient` and of the report arguments these
regimes use (to be unified with ``aggregator.reports.source``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aggregator import answers as a
from aggregator.reports import document as d
from aggregator.reports.regimes._thresholds import known_bundles, threshold_rows
from fedgov.errors import QueryError

__all__ = [
    "Args",
    "Source",
    "Trail",
    "arguments",
    "cadence_rows",
    "history",
    "in_window",
    "merged_by_jurisdiction",
    "model_block",
    "scope_block",
    "wanted_version",
    "glob_of",
    "in_scope_silos",
    "monitoring_blocks",
    "period_of",
    "period_unit",
    "report",
]

DAY_MS, HOUR_MS, MINUTE_MS = 86_400_000, 3_600_000, 60_000


class Source(Protocol):
    """The query API calls these regimes make (a subset of ``QueryClient``)."""

    def fairness(
        self,
        model_id: str,
        *,
        model_version: str = "",
        jurisdiction_glob: str = "",
        since_ms: int = 0,
        source: str = "",
    ) -> a.Fairness: ...

    def history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str = "",
        attribute: str = "",
        since_ms: int = 0,
        jurisdiction_glob: str = "",
        silo_id: str = "",
    ) -> list[a.HistoryPoint]: ...

    def decisions(
        self, *, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.DecisionRow]: ...

    def jobs(self, *, model_id: str = "") -> list[a.JobRow]: ...

    def models(self, *, model_id: str = "") -> list[a.ModelVersion]: ...

    def central(self, *, model_id: str = "") -> list[a.CentralRow]: ...

    def silos(
        self, *, stale_after_ms: int = 0, jurisdiction_glob: str = "", silo_id: str = ""
    ) -> list[a.SiloRow]: ...


class Args(Protocol):
    """The report arguments these regimes read (``ReportArgs`` has them all)."""

    @property
    def model(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def jurisdictions(self) -> str | None: ...
    @property
    def since_ms(self) -> int | None: ...
    @property
    def until_ms(self) -> int | None: ...
    @property
    def model_card(self) -> str | Path | None: ...


def glob_of(args: Args) -> str:
    return args.jurisdictions or ""


def in_window(args: Args, t_ms: int) -> bool:
    return (args.since_ms or 0) <= t_ms and (not args.until_ms or t_ms <= args.until_ms)


def wanted_version(args: Args, version: str) -> bool:
    return not args.version or version == args.version


@dataclass
class Trail:
    """The evidence a report rests on, gathered while its sections are built."""

    times: set[int] = field(default_factory=set)
    report_ids: set[str] = field(default_factory=set)
    paths: dict[str, str] = field(default_factory=dict)  # figure -> privacy path

    def points(self, points: Iterable[a.HistoryPoint]) -> None:
        for p in points:
            self.times.add(p.window_end_ms)
            if p.report_id:
                self.report_ids.add(p.report_id)

    def fairness(self, figure: str, ans: a.Fairness) -> None:
        self.paths[figure] = ans.source
        self.report_ids.update(getattr(ans, "report_ids", ()))

    def as_of_ms(self, args: Args) -> int:
        """The newest evidence time, never later than ``--until``."""
        newest = max(self.times, default=0)
        return min(newest, args.until_ms) if args.until_ms else newest

    def evidence(
        self, silos: Sequence[a.SiloRow], versions: Sequence[a.ModelVersion]
    ) -> dict[str, Any]:
        return {
            "report_ids": sorted(self.report_ids),
            "policy_bundle_digests": {s.silo: s.policy_bundle_digest for s in silos},
            "spec_digests": {v.version: v.spec_digest for v in versions},
            "privacy_paths": dict(sorted(self.paths.items())),
        }


def history(
    source: Source, args: Args, metric: str, trail: Trail, **kw: str
) -> list[a.HistoryPoint]:
    """The metric's points in the report's window, version and jurisdictions, sorted.
    A metric no report has a number for (the query refuses it) has no points."""
    try:
        points = source.history(
            args.model, metric, since_ms=args.since_ms or 0, jurisdiction_glob=glob_of(args), **kw
        )
    except QueryError:
        return []
    kept = sorted(
        (p for p in points if in_window(args, p.window_end_ms) and wanted_version(args, p.version)),
        key=lambda p: (p.window_end_ms, p.silo, p.report_id),
    )
    trail.points(kept)
    return kept


def merged_by_jurisdiction(
    source: Source, args: Args, silos: Sequence[a.SiloRow], trail: Trail
) -> tuple[a.Fairness | None, list[tuple[str, a.Fairness]]]:
    """The merged figures over every silo in scope, then per jurisdiction; a scope with
    no report in the period is left out (its silos show in the cadence table)."""
    scopes = [args.jurisdictions or "*", *sorted({s.jurisdiction for s in silos})]
    out: list[tuple[str, a.Fairness]] = []
    for i, scope in enumerate(dict.fromkeys(scopes)):
        try:
            ans = source.fairness(
                args.model,
                model_version=args.version or "",
                jurisdiction_glob="" if i == 0 and scope == "*" else scope,
                since_ms=args.since_ms or 0,
            )
        except QueryError:
            continue
        trail.fairness(f"merged figures: {scope}", ans)
        out.append((scope, ans))
    overall = out[0][1] if out and out[0][0] == scopes[0] else None
    return overall, out


def arguments(args: Args, regime: str) -> dict[str, Any]:
    """What was asked, as the document records it."""
    return {
        "model": args.model,
        "version": args.version or "",
        "regime": regime,
        "jurisdictions": args.jurisdictions or "",
        "since_ms": args.since_ms or 0,
        "until_ms": args.until_ms or 0,
    }


def model_block(args: Args, versions: Sequence[a.ModelVersion]) -> dict[str, Any]:
    return {
        "id": args.model,
        "version": args.version or "",
        "versions": [{"version": v.version, "status": v.status} for v in versions],
    }


def scope_block(args: Args, silos: Sequence[a.SiloRow]) -> dict[str, Any]:
    return {
        "jurisdictions": args.jurisdictions or "*",
        "silos": [s.silo for s in silos],
        "since_ms": args.since_ms or 0,
        "until_ms": args.until_ms or 0,
    }


def report(
    regime: str,
    title: str,
    args: Args,
    trail: Trail,
    silos: Sequence[a.SiloRow],
    versions: Sequence[a.ModelVersion],
    sections: Sequence[dict[str, Any]],
    **evidence: Any,
) -> dict[str, Any]:
    """The document of ``sections`` with the arguments, scope and evidence of ``trail``."""
    return d.document(
        regime=regime,
        title=title,
        arguments=arguments(args, regime),
        as_of_ms=trail.as_of_ms(args),
        model=model_block(args, versions),
        scope=scope_block(args, silos),
        sections=sections,
        evidence=trail.evidence(silos, versions) | evidence,
    )


def in_scope_silos(source: Source, args: Args) -> list[a.SiloRow]:
    """The silos in the jurisdictions asked for that serve the model, by silo id."""
    rows = source.silos(jurisdiction_glob=glob_of(args))
    return sorted(
        (s for s in rows if any(m.split("/", 1)[0] == args.model for m in s.models)),
        key=lambda s: s.silo,
    )


# -- periods -------------------------------------------------------------------------------


def period_unit(times: Iterable[int]) -> str:
    """``day`` when the evidence spans two days or more, else ``hour``, else ``minute``."""
    ts = list(times)
    span = max(ts) - min(ts) if ts else 0
    return "day" if span >= 2 * DAY_MS else "hour" if span >= 2 * HOUR_MS else "minute"


def period_of(t_ms: int, unit: str) -> str:
    """The period label (UTC) of ``t_ms``: ``2025-03-01``, ``2025-03-01T14h``, ``...T14:05``."""
    when = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
    fmt = {"day": "%Y-%m-%d", "hour": "%Y-%m-%dT%Hh", "minute": "%Y-%m-%dT%H:%M"}[unit]
    return when.strftime(fmt)


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
    source: Source, args: Args, silos: Sequence[a.SiloRow], trail: Trail
) -> list[dict[str, Any]]:
    """Silos covered, policies and thresholds per jurisdiction, and reporting cadence."""
    bundles = known_bundles(args)
    unknown = sorted({s.policy_bundle_digest for s in silos} - set(bundles))
    windows = history(source, args, "sample_size", trail)
    notes = [
        f"bundle {digest or '(none reported)'}: its contents are not known to this report "
        "(not the shipped default); pass its folder to read its thresholds"
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
