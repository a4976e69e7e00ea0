"""Time series in a report, bounded: history points folded into at most a dozen periods.

A store of 100,000 reports must not give a 100,000-point document, so every time
series a regime draws is aggregated per period: :func:`period_unit` picks the
smallest calendar unit (minute, hour, day, ISO week, month, year) that gives at
most :data:`MAX_PERIODS` periods over the evidence, and :func:`worst_per_period`
keeps one point per key (jurisdiction, silo x feature) per period: the worst value
of its windows (the lowest ratio, the highest PSI). The reports behind a series are
named by their number and a digest (:func:`~aggregator.reports.source.series_evidence`),
not listed. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aggregator import answers as a
from aggregator.reports.source import ReportArgs, ReportSource
from fedgov.errors import QueryError

__all__ = [
    "MAX_PERIODS",
    "UNITS",
    "history_in",
    "in_report",
    "period_label",
    "period_start",
    "period_unit",
    "series_points",
    "worst_per_period",
]

MAX_PERIODS = 12
UNITS = ("minute", "hour", "day", "week", "month", "year")
K = TypeVar("K", bound=Hashable)


def period_start(t_ms: int, unit: str) -> datetime:
    """The UTC start of the ``unit`` that holds ``t_ms`` (weeks start on Monday)."""
    t = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
    if unit == "minute":
        return t.replace(second=0, microsecond=0)
    if unit == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"period unit {unit!r} is not one of {UNITS}")


_LABELS = {
    "minute": "%Y-%m-%dT%H:%M",
    "hour": "%Y-%m-%dT%Hh",
    "day": "%Y-%m-%d",
    "week": "%G-W%V",
    "month": "%Y-%m",
    "year": "%Y",
}


def period_label(t_ms: int, unit: str) -> str:
    """The period of ``t_ms`` as text: ``2025-03-01T14:05``, ``2025-03-01T14h``,
    ``2025-03-01``, ``2025-W09``, ``2025-03`` or ``2025`` (UTC)."""
    return period_start(t_ms, unit).strftime(_LABELS[unit])


def period_unit(times: Iterable[int]) -> str:
    """The smallest unit whose periods from the first to the last of ``times`` (empty
    ones counted: the axis is continuous) number at most :data:`MAX_PERIODS`."""
    ts = list(times)
    if not ts:
        return "day"
    lo, hi = min(ts), max(ts)
    for unit in UNITS[:-1]:
        if _periods_between(lo, hi, unit) <= MAX_PERIODS:
            return unit
    return UNITS[-1]


_SIZES = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 7 * 86_400_000}


def _periods_between(lo: int, hi: int, unit: str) -> int:
    a, b = period_start(lo, unit), period_start(hi, unit)
    if unit == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return int((b - a).total_seconds() * 1000) // _SIZES[unit] + 1


def history_in(
    source: ReportSource, args: ReportArgs, metric: str, **kw: str
) -> list[a.HistoryPoint]:
    """The metric's points in the report's window, version and jurisdictions, sorted.
    A metric no report has a number for (the query refuses it) has no points."""
    try:
        points = source.history(
            args.model,
            metric,
            since_ms=args.since_ms,
            jurisdiction_glob=args.jurisdictions,
            **kw,
        )
    except QueryError:
        return []
    return in_report(points, args)


def in_report(points: Iterable[a.HistoryPoint], args: ReportArgs) -> list[a.HistoryPoint]:
    """The points in the report's window and version, oldest first."""
    return sorted(
        (
            p
            for p in points
            if args.in_window(p.window_end_ms) and (not args.version or p.version == args.version)
        ),
        key=lambda p: (p.window_end_ms, p.silo, p.report_id),
    )


def worst_per_period(
    points: Iterable[tuple[K, a.HistoryPoint]],
    unit: str,
    worse: Callable[[float, float], bool],
) -> dict[tuple[str, K], a.HistoryPoint]:
    """(period label, key) -> the point with the worst value of that key's windows in
    the period (``worse(new, kept)``: e.g. ``<`` for ratios, ``>`` for PSI); points
    without a value are left out."""
    kept: dict[tuple[str, K], a.HistoryPoint] = {}
    for key, p in points:
        if p.value is None:
            continue
        at = (period_label(p.window_end_ms, unit), key)
        old = kept.get(at)
        if old is None or worse(p.value, old.value if old.value is not None else p.value):
            kept[at] = p
    return kept


def series_points(
    worst: Mapping[tuple[str, str], a.HistoryPoint], unit: str
) -> list[dict[str, Any]]:
    """Series per key (a jurisdiction): ``[period start ms, worst value]``, oldest first."""
    by: dict[str, list[list[Any]]] = {}
    for (_, key), p in worst.items():
        start = int(period_start(p.window_end_ms, unit).timestamp() * 1000)
        by.setdefault(key, []).append([start, p.value])
    return [{"jurisdiction": k, "points": sorted(v)} for k, v in sorted(by.items())]
