"""Reports around given statistics, as the aggregator receives them."""

from __future__ import annotations

from typing import Any

from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats


def report_of(
    spec: MonitoringSpec,
    stats: WindowStats,
    report_id: str = "r1",
    *,
    silo: str = "EU-DE",
    **fields: Any,
) -> Report:
    """A report of ``silo`` (its jurisdiction of the same name), window [0, 1], no
    metrics and an allowing decision; ``fields`` replace any other :class:`Report` field."""
    base: dict[str, Any] = {
        "report_id": report_id,
        "silo_id": silo,
        "jurisdiction": silo,
        "model_id": spec.model_id,
        "model_version": spec.model_version,
        "window_start_ms": 0,
        "window_end_ms": 1,
        "spec_digest": spec.digest,
        "stats": stats,
        "metrics": {},
        "decision": Decision(allow=True),
    }
    return Report(**(base | fields))
