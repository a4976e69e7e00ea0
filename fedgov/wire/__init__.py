"""The wire boundary: protobuf <-> domain conversions."""

from fedgov.wire.serde import (
    WireError,
    decision_from_proto,
    decision_to_proto,
    metrics_json_from_bytes,
    report_decision_from_bytes,
    report_from_bytes,
    report_from_proto,
    report_link_from_bytes,
    report_to_bytes,
    report_to_proto,
    stats_from_proto,
    stats_to_proto,
)

__all__ = [
    "WireError",
    "decision_from_proto",
    "decision_to_proto",
    "metrics_json_from_bytes",
    "report_decision_from_bytes",
    "report_from_bytes",
    "report_from_proto",
    "report_link_from_bytes",
    "report_to_bytes",
    "report_to_proto",
    "stats_from_proto",
    "stats_to_proto",
]
