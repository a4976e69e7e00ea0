"""Merging silo statistics into exact cross-silo figures.

Metrics are never averaged: counts are summed, then the same pure metric
functions the silos use run on the sums. When nothing was suppressed or
noised, the result equals the metric of the pooled raw data.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fedgov.errors import QueryError
from fedgov.metrics import compute_metrics
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats

__all__ = ["matches_glob", "merge_stats", "merged_metrics"]

log = logging.getLogger(__name__)


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
            f"reports use {len(digests)} different monitoring specs "
            f"({', '.join(d[:12] for d in digests)}); "
            "merge one model version at a time"
        )
    parts = [r.stats for r in reports]
    if any(s.scores for s in parts) and not all(s.scores for s in parts):
        # Reports from agents made before score histograms carry none: a sum
        # over only some silos would be wrong, so the merge has none either
        # (no AUC or calibration error rather than a partial one).
        log.info("merging %d reports without score histograms: some have none", len(parts))
        parts = [dataclasses.replace(s, scores={}) for s in parts]
    merged = parts[0]
    for s in parts[1:]:
        merged = merged.merge(s)
    return merged


def merged_metrics(spec: MonitoringSpec, reports: Iterable[Report]) -> dict[str, Any]:
    return compute_metrics(spec, merge_stats(list(reports)))
