"""Partial readers of stored report bytes: one part of a report, the rest left undecoded.

The store's read paths need only a report's chain link (ingest), its
decision (decision queries) or its metrics JSON (metric history); decoding
every count into numpy (:func:`fedgov.wire.report_from_bytes`) would cost far
more than the parse these readers make.
"""

from __future__ import annotations

from typing import NamedTuple

from fedgov.decision import Decision
from fedgov.report import ReportLink
from fedgov.wire._decision_serde import decision_from_proto
from fedgov.wire._report_serde import parse_report

__all__ = ["metrics_json_from_bytes", "report_decision_from_bytes", "report_link_from_bytes"]


class _Header(NamedTuple):
    """The fields fedgov.report.chain_hash covers, read off a message."""

    report_id: str
    silo_id: str
    model_id: str
    model_version: str
    spec_digest: str
    input_digest: str
    window_start_ms: int
    window_end_ms: int
    prev_report_hash: str


def report_link_from_bytes(data: bytes) -> ReportLink:
    """The chain link of stored report bytes, without decoding statistics or metrics.

    The ingest path's chain check needs only this of the silo's newest report;
    decoding all of it (every count into numpy, the metrics JSON) cost as much
    as decoding the report being ingested.
    """
    m = parse_report(data)
    return ReportLink.of(
        _Header(
            m.report_id,
            m.silo_id,
            m.model_id,
            m.model_version,
            m.spec_digest,
            m.input_digest,
            m.window.start_unix_ms,
            m.window.end_unix_ms,
            m.prev_report_hash,
        )
    )


def metrics_json_from_bytes(data: bytes) -> str:
    """The metrics JSON text of a serialized ``fedgov.v1.Report``, statistics left undecoded.

    The store's read path for metric history: parsing the message is a few
    microseconds, while turning its statistics into numpy arrays (what
    :func:`fedgov.wire.report_from_bytes` does) costs far more and is not needed here.
    """
    return parse_report(data).metrics_json or "{}"


def report_decision_from_bytes(data: bytes) -> Decision:
    """The local decision of a serialized ``fedgov.v1.Report``, nothing else decoded.

    Equal to ``report_from_bytes(data).decision``, for a fraction of the cost.
    """
    return decision_from_proto(parse_report(data).decision)
