"""The wire boundary: protobuf <-> domain conversions."""

from fedgov.wire.serde import (
    MAX_JSON_CHARS,
    WireError,
    check_request,
    decision_from_proto,
    decision_to_proto,
    json_from_wire,
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
    "MAX_JSON_CHARS",
    "WireError",
    "check_request",
    "decision_from_proto",
    "decision_to_proto",
    "json_from_wire",
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
