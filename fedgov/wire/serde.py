"""Conversions between domain objects and their protobuf messages.

The only module (with the gRPC glue) that imports generated ``_pb2`` code;
domain code works with :class:`fedgov.report.Report` and friends.
``*_from_proto`` functions validate shapes and raise :class:`WireError`
naming the field, so a hostile message becomes a precise rejection.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from fedgov.errors import ReportRejected
from fedgov.policy import Decision
from fedgov.report import Report
from fedgov.stats import FeatureCounts, OutcomeCounts, WindowStats
from fedgov.v1 import report_pb2

__all__ = [
    "WireError",
    "decision_from_proto",
    "decision_to_proto",
    "report_from_proto",
    "report_to_proto",
    "stats_from_proto",
    "stats_to_proto",
]

MAX_METRICS_JSON = 4 << 20


class WireError(ReportRejected):
    """A message is malformed; the text names the field."""


def decision_to_proto(d: Decision) -> report_pb2.Decision:
    return report_pb2.Decision(
        allow=d.allow,
        deny=list(d.deny),
        warn=list(d.warn),
        actions=list(d.actions),
        bundle_digest=d.bundle_digest,
    )


def decision_from_proto(m: report_pb2.Decision) -> Decision:
    return Decision(
        allow=m.allow,
        deny=tuple(m.deny),
        warn=tuple(m.warn),
        actions=tuple(sorted(set(m.actions))),
        bundle_digest=m.bundle_digest,
    )


def stats_to_proto(s: WindowStats) -> report_pb2.WindowStats:
    return report_pb2.WindowStats(
        spec_digest=s.spec_digest,
        rows=int(s.rows),
        features=[
            report_pb2.FeatureCounts(name=f.name, kind=f.kind, counts=f.counts.tolist())
            for f in s.features.values()
        ],
        outcomes=[
            report_pb2.OutcomeCounts(
                attribute=o.attribute, groups=list(o.groups), counts=o.counts.ravel().tolist()
            )
            for o in s.outcomes.values()
        ],
        outcome_missing=int(s.outcome_missing),
    )


def _counts(values: Any, field: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.int64)
    if arr.size and int(arr.min()) < 0:
        raise WireError(f"{field}: counts must be >= 0, found {int(arr.min())}")
    return arr


def stats_from_proto(m: report_pb2.WindowStats) -> WindowStats:
    if m.rows < 0:
        raise WireError(f"stats.rows: must be >= 0, got {m.rows}")
    features: dict[str, FeatureCounts] = {}
    for i, f in enumerate(m.features):
        if f.kind not in ("numeric", "categorical"):
            raise WireError(f"stats.features[{i}].kind: unknown kind {f.kind!r}")
        if f.name in features:
            raise WireError(f"stats.features[{i}].name: duplicate feature {f.name!r}")
        counts = _counts(f.counts, f"stats.features[{i}] ({f.name})")
        features[f.name] = FeatureCounts(name=f.name, kind=f.kind, counts=counts)
    outcomes: dict[str, OutcomeCounts] = {}
    for i, o in enumerate(m.outcomes):
        where = f"stats.outcomes[{i}] ({o.attribute})"
        if len(o.counts) != 4 * len(o.groups):
            raise WireError(
                f"{where}: expected {4 * len(o.groups)} counts for {len(o.groups)} groups, "
                f"got {len(o.counts)}"
            )
        counts = _counts(o.counts, where).reshape(len(o.groups), 2, 2)
        outcomes[o.attribute] = OutcomeCounts(
            attribute=o.attribute, groups=tuple(o.groups), counts=counts
        )
    return WindowStats(
        spec_digest=m.spec_digest,
        rows=int(m.rows),
        features=features,
        outcomes=outcomes,
        outcome_missing=int(m.outcome_missing),
    )


def report_to_proto(r: Report) -> report_pb2.Report:
    return report_pb2.Report(
        report_id=r.report_id,
        silo_id=r.silo_id,
        jurisdiction=r.jurisdiction,
        model_id=r.model_id,
        model_version=r.model_version,
        window=report_pb2.Window(start_unix_ms=r.window_start_ms, end_unix_ms=r.window_end_ms),
        spec_digest=r.spec_digest,
        stats=stats_to_proto(r.stats),
        metrics_json=json.dumps(r.metrics, sort_keys=True, allow_nan=False),
        decision=decision_to_proto(r.decision),
        input_digest=r.input_digest,
        created_unix_ms=r.created_ms,
    )


def _no_nonfinite(value: Any, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise WireError(f"metrics_json.{path}: non-finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_nonfinite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nonfinite(v, f"{path}[{i}]")


def report_from_proto(m: report_pb2.Report) -> Report:
    for name in ("report_id", "silo_id", "model_id", "model_version", "spec_digest"):
        if not getattr(m, name):
            raise WireError(f"report.{name}: required, but empty")
    if len(m.report_id) > 128:
        raise WireError("report.report_id: longer than 128 characters")
    if m.stats.spec_digest != m.spec_digest:
        raise WireError("report.stats.spec_digest: differs from report.spec_digest")
    if len(m.metrics_json) > MAX_METRICS_JSON:
        raise WireError("report.metrics_json: larger than 4 MiB")
    try:
        metrics = json.loads(m.metrics_json or "{}")
    except json.JSONDecodeError as exc:
        raise WireError(f"report.metrics_json: not valid JSON ({exc.msg} at line {exc.lineno})")
    if not isinstance(metrics, dict):
        raise WireError("report.metrics_json: must be a JSON object")
    _no_nonfinite(metrics, "")
    if m.window.end_unix_ms < m.window.start_unix_ms:
        raise WireError("report.window: end is before start")
    return Report(
        report_id=m.report_id,
        silo_id=m.silo_id,
        jurisdiction=m.jurisdiction,
        model_id=m.model_id,
        model_version=m.model_version,
        window_start_ms=m.window.start_unix_ms,
        window_end_ms=m.window.end_unix_ms,
        spec_digest=m.spec_digest,
        stats=stats_from_proto(m.stats),
        metrics=metrics,
        decision=decision_from_proto(m.decision),
        input_digest=m.input_digest,
        created_ms=m.created_unix_ms,
    )
