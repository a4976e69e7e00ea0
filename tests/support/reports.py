"""Reports around given statistics, as the aggregator receives them."""

from __future__ import annotations

from typing import Any

from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats


def psi_half() -> dict[str, Any]:
    """Metrics of a report whose one drifted feature, income, has a PSI of 0.5 (a fresh copy)."""
    return {"drift": {"features": {"income": {"psi": 0.5, "psi_pvalue": 0.001}}}}


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


def report_ending(
    spec: MonitoringSpec,
    stats: WindowStats,
    rid: str,
    silo: str,
    end_ms: int,
    version: str = "",
    **fields: Any,
) -> Report:
    """:func:`report_of` over the 10 ms window that ends at ``end_ms``, of model
    ``version`` (the spec's when empty)."""
    return report_of(
        spec,
        stats,
        rid,
        silo=silo,
        model_version=version or spec.model_version,
        window_start_ms=end_ms - 10,
        window_end_ms=end_ms,
        **fields,
    )
