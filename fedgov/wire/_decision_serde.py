"""Policy decisions on the wire: ``fedgov.v1.Decision`` <-> :class:`fedgov.policy.Decision`."""

from __future__ import annotations

from fedgov.decision import Decision
from fedgov.v1 import report_pb2

__all__ = ["decision_from_proto", "decision_to_proto"]


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
