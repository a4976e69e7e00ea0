"""Merging silo statistics into exact cross-silo figures.

Metrics are never averaged: counts are summed, then the same pure metric
functions the silos use run on the sums. When nothing was suppressed or
noised, the result equals the metric of the pooled raw data.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

from fedgov.errors import QueryError
from fedgov.metrics import compute_metrics
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

__all__ = ["matches_glob", "merge_stats", "merged_metrics"]


def matches_glob(jurisdiction: str, pattern: str | None) -> bool:
    """Empty pattern matches everything; several patterns may be comma-separated."""
    if not pattern:
        return True
    return any(fnmatch.fnmatchcase(jurisdiction, p.strip()) for p in pattern.split(","))


def merge_stats(reports: Sequence[Report]) -> WindowStats:
    if not reports:
        raise QueryError("no reports to merge")
    digests = sorted({r.spec_digest for r in reports})
    if len(digests) > 1:
        raise QueryError(
            f"reports use {len(digests)} different monitoring specs ({', '.join(d[:12] for d in digests)}); "
            "merge one model version at a time"
        )
    merged = reports[0].stats
    for r in reports[1:]:
        merged = merged.merge(r.stats)
    return merged


def merged_metrics(spec: MonitoringSpec, reports: Iterable[Report]) -> dict[str, Any]:
    return compute_metrics(spec, merge_stats(list(reports)))
