"""The aggregator's audit trail as one call: record an event, or do nothing without a log.

Each part that makes or records a decision (registration, ingest, the gates,
jobs, the model registry, commands, the retraining coordinator) takes an
:class:`Audit` callable instead of a handler or an optional
:class:`fedgov.audit.AuditLog`, so none of them checks whether a log is kept.
:func:`together` holds one thread's events for a while and appends them at
once (a batch of reports: one fsync, not one per record).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

from fedgov.audit import AuditLog

__all__ = ["Audit", "AuditSink", "together"]


class Audit(Protocol):
    def __call__(self, kind: str, /, **fields: Any) -> None: ...


class AuditSink:
    """Appends each event to ``log``; without a log (tests, benchmarks) drops it."""

    def __init__(self, log: AuditLog | None) -> None:
        self.log = log
        self._held = threading.local()  # .events: this thread's events held by together()

    def __call__(self, kind: str, /, **fields: Any) -> None:
        if self.log is None:
            return
        held: list[tuple[str, dict[str, Any]]] | None = getattr(self._held, "events", None)
        if held is not None:
            held.append((kind, fields))
        else:
            self.log.append(kind, **fields)

    @contextmanager
    def together(self) -> Iterator[None]:
        """The events this thread records inside the block are appended when it ends
        (an error included), in the order recorded, with one fsync for all."""
        if self.log is None or getattr(self._held, "events", None) is not None:
            yield  # no log, or already inside: the outer block appends them
            return
        self._held.events = []
        try:
            yield
        finally:
            events, self._held.events = self._held.events, None
            self.log.append_many(events)


def together(audit: Audit) -> AbstractContextManager[None]:
    """``audit.together()`` for an :class:`AuditSink`; any other sink records as it goes."""
    return audit.together() if isinstance(audit, AuditSink) else nullcontext()
