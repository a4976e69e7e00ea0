"""The wire boundary: protobuf <-> domain conversions.

The only package (with the gRPC glue) that imports generated ``_pb2`` code;
domain code works with :class:`fedgov.report.Report` and friends. One module
per message family: request bounds and JSON fields (``_checks``), decisions,
window statistics (with the packed-varint reader ``_varint``), reports and
their stored bytes, partial readers of those bytes, audit anchors
(checkpoints, stored heads: ``_audit_serde``), and the copy of same-named
fields every ``*_to_proto`` starts with (``_fields``). ``*_from_proto`` functions
validate shapes and raise :class:`WireError` naming the field, so a hostile
message becomes a precise rejection.
"""

from fedgov.wire._audit_serde import (
    checkpoint_from_proto,
    checkpoint_to_proto,
    heads_from_proto,
    heads_to_proto,
)
from fedgov.wire._checks import MAX_JSON_CHARS, WireError, check_request, json_from_wire
from fedgov.wire._decision_serde import decision_from_proto, decision_to_proto
from fedgov.wire._fields import fields_of
from fedgov.wire._partial import (
    metrics_json_from_bytes,
    report_decision_from_bytes,
    report_link_from_bytes,
)
from fedgov.wire._report_serde import (
    report_from_bytes,
    report_from_proto,
    report_to_bytes,
    report_to_proto,
)
from fedgov.wire._stats_serde import (
    stats_from_bytes,
    stats_from_proto,
    stats_to_bytes,
    stats_to_proto,
)

__all__ = [
    "MAX_JSON_CHARS",
    "WireError",
    "check_request",
    "checkpoint_from_proto",
    "checkpoint_to_proto",
    "decision_from_proto",
    "decision_to_proto",
    "fields_of",
    "heads_from_proto",
    "heads_to_proto",
    "json_from_wire",
    "metrics_json_from_bytes",
    "report_decision_from_bytes",
    "report_from_bytes",
    "report_from_proto",
    "report_link_from_bytes",
    "report_to_bytes",
    "report_to_proto",
    "stats_from_bytes",
    "stats_from_proto",
    "stats_to_bytes",
    "stats_to_proto",
]
