"""The aggregator's audit trail as one call: record an event, or do nothing without a log.

Each part that makes or records a decision (registration, ingest, the gates,
jobs, the model registry, commands, the retraining coordinator) takes an
:class:`Audit` callable instead of a handler or an optional
:class:`fedgov.audit.AuditLog`, so none of them checks whether a log is kept.
"""

from __future__ import annotations

from typing import Any, Protocol

from fedgov.audit import AuditLog

__all__ = ["Audit", "AuditSink"]


class Audit(Protocol):
    def __call__(self, kind: str, /, **fields: Any) -> None: ...


class AuditSink:
    """Appends each event to ``log``; without a log (tests, benchmarks) drops it."""

    def __init__(self, log: AuditLog | None) -> None:
        self.log = log

    def __call__(self, kind: str, /, **fields: Any) -> None:
        if self.log is not None:
            self.log.append(kind, **fields)
