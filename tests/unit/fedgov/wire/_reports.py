"""A minimal report around given statistics, for the wire tests."""

from __future__ import annotations

from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats


def report_of(spec: MonitoringSpec, stats: WindowStats, report_id: str = "r1") -> Report:
    """Silo EU-DE, window [0, 1], no metrics, an allowing decision."""
    return Report(
        report_id=report_id,
        silo_id="EU-DE",
        jurisdiction="EU-DE",
        model_id=spec.model_id,
        model_version=spec.model_version,
        window_start_ms=0,
        window_end_ms=1,
        spec_digest=spec.digest,
        stats=stats,
        metrics={},
        decision=Decision(allow=True),
    )
