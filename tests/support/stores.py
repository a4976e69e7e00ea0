"""Aggregator stores written to directly: registrations, and rows as older releases wrote them."""

from __future__ import annotations

import json
from typing import Any

from aggregator.store import Store
from aggregator.store._schema import report_key
from fedgov.report import Report
from fedgov.spec import MonitoringSpec

#: The columns of a ``reports`` row before reports were stored as protobuf.
LEGACY_REPORT_COLUMNS = (
    "report_id, silo_id, jurisdiction, model_id, model_version, spec_digest, "
    "window_start_ms, window_end_ms, received_ms, allow, payload"
)


def model_of(spec: MonitoringSpec) -> tuple[str, str, str, str]:
    """The (model, version, spec digest, spec JSON) a silo registers."""
    return (spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict()))


def register_silos(store: Store, spec: MonitoringSpec, *silos: str, copies: int = 1) -> None:
    """Each silo (its jurisdiction of the same name) registers ``spec``, ``copies`` times over."""
    for s in silos:
        store.register_silo(s, s, "sha256:abc", [model_of(spec)] * copies)


def legacy_row(r: Report, allow: Any) -> tuple[Any, ...]:
    """``r`` as an older release stored it (:data:`LEGACY_REPORT_COLUMNS`): JSON in
    ``payload``, received at 1 ms, ``allow`` as given."""
    return (
        *report_key(r),
        r.spec_digest,
        r.window_start_ms,
        r.window_end_ms,
        1,
        allow,
        r.to_json(),
    )


def spy_batches(store: Store) -> list[list[str]]:
    """The report ids of every ``add_reports`` call on ``store`` from now on (one call is
    one transaction)."""
    calls: list[list[str]] = []
    real = store.add_reports

    def add_reports(reports: Any) -> list[bool]:
        calls.append([r.report_id for r in reports])
        return real(reports)

    store.add_reports = add_reports  # type: ignore[method-assign]
    return calls
