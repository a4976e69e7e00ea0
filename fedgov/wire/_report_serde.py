"""Reports on the wire: ``fedgov.v1.Report`` <-> :class:`fedgov.report.Report`, and its bytes.

:func:`report_from_proto` is the path of received reports: identifiers,
times and statistics' names are bounded, metrics must be finite JSON, and a
malformed message raises :class:`fedgov.wire.WireError` naming the field.
:func:`report_to_bytes` / :func:`report_from_bytes` are the form the
aggregator stores: a received report keeps the bytes it came in, and the
read path skips the checks the bytes already passed on arrival.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
from google.protobuf.message import DecodeError

from fedgov.audit import AuditHead
from fedgov.documents import nested_too_deep
from fedgov.limits import name_problem
from fedgov.report import Report
from fedgov.v1 import report_pb2
from fedgov.wire._checks import MAX_JSON_CHARS, WireError, check_request, json_from_wire
from fedgov.wire._decision_serde import decision_from_proto, decision_to_proto
from fedgov.wire._fields import fields_of
from fedgov.wire._stats_serde import stats_from_proto, stats_to_proto
from fedgov.wire._varint import report_counts

__all__ = [
    "parse_report",
    "report_from_bytes",
    "report_from_proto",
    "report_to_bytes",
    "report_to_proto",
]


# Report fields the message holds as they are, under the same name.
_SAME_FIELDS = (
    "report_id",
    "silo_id",
    "jurisdiction",
    "model_id",
    "model_version",
    "spec_digest",
    "input_digest",
    "prev_report_hash",
)


def report_to_proto(r: Report) -> report_pb2.Report:
    return report_pb2.Report(
        **fields_of(r, *_SAME_FIELDS, created_unix_ms="created_ms"),
        window=report_pb2.Window(start_unix_ms=r.window_start_ms, end_unix_ms=r.window_end_ms),
        stats=stats_to_proto(r.stats),
        metrics_json=json.dumps(r.metrics, sort_keys=True, allow_nan=False),
        decision=decision_to_proto(r.decision),
        audit_head=(
            None
            if r.audit_head is None
            else report_pb2.AuditHead(seq=r.audit_head.seq, hash=r.audit_head.hash)
        ),
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed, numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # a literal like 1e999 overflows to infinity
        raise ValueError(f"{text[:20]} overflows to infinity, numbers must be finite")
    return value


# Rejects NaN, Infinity and overflowing literals while parsing: no second walk.
_METRICS_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_STORED_METRICS_DECODER = json.JSONDecoder()
# Strict JSON: NaN, Infinity and numbers out of a float's range are errors. About five
# times faster than json with the hook above, and reads what json reads alike.
_STRICT_JSON = msgspec.json.Decoder()


def _finite_json(text: str) -> Any:
    """Metrics a peer sent, as :func:`json_from_wire` with :data:`_METRICS_DECODER` reads
    them (the same bounds, values and refusals), through the strict decoder when it can.

    What it does not read (NaN, Infinity, an overflowing number, a lone surrogate
    escape, malformed text) goes to the careful decoder, which says why, or reads it.
    """
    if len(text) <= MAX_JSON_CHARS and not nested_too_deep(text):
        try:
            return _STRICT_JSON.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    return json_from_wire(text, field="report.metrics_json", decoder=_METRICS_DECODER)


def _metrics(text: str, decoder: json.JSONDecoder) -> dict[str, Any]:
    if decoder is not _STORED_METRICS_DECODER:
        metrics = _finite_json(text or "{}")
    else:  # written here and checked on arrival: no depth check, the hot read path
        try:
            metrics = decoder.decode(text or "{}")
        except json.JSONDecodeError as exc:
            raise WireError(
                f"report.metrics_json: not valid JSON ({exc.msg} at line {exc.lineno})"
            ) from None
    if not isinstance(metrics, dict):
        raise WireError("report.metrics_json: must be a JSON object")
    return metrics


def report_to_bytes(r: Report) -> bytes:
    """The report as a serialized ``fedgov.v1.Report``: the form the aggregator stores.

    A report that :func:`report_from_proto` decoded returns the bytes it came
    from (no re-encoding); :func:`report_from_bytes` reads either back equal.
    """
    if r._wire is not None:
        return r._wire
    data: bytes = report_to_proto(r).SerializeToString()
    return data


def report_from_bytes(data: bytes) -> Report:
    """Inverse of :func:`report_to_bytes`: the store's read path.

    It makes the checks of :func:`report_from_proto` but one: metrics are parsed
    without the per-number finiteness hook (a third of the time for small
    reports), as the bytes were written here, and report_to_bytes writes no NaN
    or infinity (``allow_nan=False``) while received reports were checked on arrival.
    """
    return _report_from_proto(parse_report(data), bytes(data), _STORED_METRICS_DECODER)


def parse_report(data: bytes) -> report_pb2.Report:
    """The ``fedgov.v1.Report`` message of serialized bytes; WireError if they are not one."""
    try:
        m: report_pb2.Report = report_pb2.Report.FromString(data)
    except DecodeError:
        raise WireError("report: the bytes are not a serialized fedgov.v1.Report") from None
    return m


def report_from_proto(m: report_pb2.Report) -> Report:
    """The domain report; WireError naming the field if the message is malformed.

    The path of received reports: besides the shape checks both paths make, the
    identifiers, times and statistics' names are bounded (:mod:`fedgov.limits`).
    """
    check_request(m, "report")
    check_request(m.window, "report.window")
    for kind, items in (("outcomes", m.stats.outcomes), ("scores", m.stats.scores)):
        for i, item in enumerate(items):
            check_request(item, f"report.stats.{kind}[{i}]")  # its attribute
    for i, feature in enumerate(m.stats.features):  # "name" is too common a field for a rule
        problem = name_problem(feature.name)
        if problem:
            raise WireError(f"report.stats.features[{i}].name: {problem}")
    return _report_from_proto(m, None, _METRICS_DECODER)


def _report_from_proto(
    m: report_pb2.Report, wire: bytes | None, decoder: json.JSONDecoder
) -> Report:
    for name in ("report_id", "silo_id", "model_id", "model_version", "spec_digest"):
        if not getattr(m, name):
            raise WireError(f"report.{name}: required, but empty")
    if len(m.report_id) > 128:
        raise WireError("report.report_id: longer than 128 characters")
    if m.stats.spec_digest != m.spec_digest:
        raise WireError("report.stats.spec_digest: differs from report.spec_digest")
    metrics = _metrics(m.metrics_json, decoder)
    if m.window.end_unix_ms < m.window.start_unix_ms:
        raise WireError("report.window: end is before start")
    if wire is None:
        wire = m.SerializeToString()
    report = Report(
        report_id=m.report_id,
        silo_id=m.silo_id,
        jurisdiction=m.jurisdiction,
        model_id=m.model_id,
        model_version=m.model_version,
        window_start_ms=m.window.start_unix_ms,
        window_end_ms=m.window.end_unix_ms,
        spec_digest=m.spec_digest,
        stats=stats_from_proto(m.stats, report_counts(wire)),
        metrics=metrics,
        decision=decision_from_proto(m.decision),
        input_digest=m.input_digest,
        created_ms=m.created_unix_ms,
        prev_report_hash=m.prev_report_hash,
        audit_head=(
            AuditHead(m.audit_head.seq, m.audit_head.hash) if m.HasField("audit_head") else None
        ),
    )
    object.__setattr__(report, "_wire", wire)
    return report
