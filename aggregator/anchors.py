"""Audit anchors at the aggregator: silos' heads kept, its own head signed.

Two halves of DESIGN.md's "audit logs are hash chains whose heads are anchored
outside the file":

* :class:`SiloHeads`: each report carries its silo's audit head; the store
  keeps every one (``add_report`` writes it, see ``aggregator.store._audit``).
  After the write, a head naming another hash for a record the silo anchored
  before means the silo rewrote its log: that is audited
  (``audit_head_conflict``) and logged, never written over. The heads are read
  back for ``QueryAuditHeads``.
* :class:`Checkpoints`: the aggregator's own log is anchored by checkpoints of
  its head signed with its Ed25519 key (:mod:`fedgov.checkpoints`), kept in
  the store and handed to the silo in every acknowledgement. A new one is made
  when the log moved and the last is at least ``every_ms`` old, so a burst of
  reports costs one signature and one store write per interval, not per report.
"""

from __future__ import annotations

import logging
import threading

from aggregator._audit import Audit
from aggregator.store import Store
from fedgov.anchors import ReceivedHead
from fedgov.audit import AuditLog
from fedgov.checkpoints import Checkpoint, CheckpointKey
from fedgov.errors import QueryError
from fedgov.report import Report, now_ms

__all__ = ["Checkpoints", "SiloHeads"]

log = logging.getLogger(__name__)


class SiloHeads:
    def __init__(self, store: Store, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    def check_stored(self, report: Report) -> None:
        """Audit a stored report's head that contradicts a head kept before."""
        head = report.audit_head
        if head is None:
            return
        earlier = self._store.conflicting_heads(report.silo_id, head.seq, head.hash)
        if not earlier:
            return
        log.warning(
            "silo %s: audit head of report %s contradicts record %d anchored by report %s: "
            "its audit log was rewritten",
            report.silo_id,
            report.report_id,
            head.seq,
            earlier[0].report_id,
        )
        self._audit(
            "audit_head_conflict",
            silo=report.silo_id,
            report_id=report.report_id,
            record=head.seq,
            head_hash=head.hash,
            anchored=[{"hash": h.hash, "report_id": h.report_id} for h in earlier],
        )

    def of(self, silo_id: str) -> list[ReceivedHead]:
        if not silo_id:
            raise QueryError("audit heads: name the silo (silo_id) whose heads to list")
        return self._store.audit_heads(silo_id)


class Checkpoints:
    """Signed checkpoints of the aggregator's audit log; none without a log or a key."""

    def __init__(
        self,
        store: Store,
        log_: AuditLog | None,
        key: CheckpointKey | None,
        *,
        every_ms: int = 1_000,
    ) -> None:
        self._store = store
        self._log = log_
        self._key = key
        self.every_ms = every_ms
        self._lock = threading.Lock()
        self._last = store.latest_checkpoint(key.key_id) if key is not None else None

    @property
    def key(self) -> CheckpointKey | None:
        return self._key

    def current(self) -> Checkpoint | None:
        """The newest checkpoint, made now if the log moved and the last one is old enough."""
        if self._log is None or self._key is None:
            return None
        head = self._log.position()
        if head is None:
            return self._last
        with self._lock:
            last = self._last
            t = now_ms()
            if last is not None and (last.seq == head.seq or t - last.time_ms < self.every_ms):
                return last
            if last is not None and head.seq < last.seq:
                log.error(
                    "audit log %s holds %d records, but it was checkpointed at record %d: "
                    "it was cut short or replaced",
                    self._log.path,
                    head.seq + 1,
                    last.seq,
                )
            made = self._key.sign(head, t)
            kept = self._store.add_checkpoint(made)
            if kept is not None:  # a checkpoint of this seq exists: its log differed
                log.error(
                    "audit log %s: record %d hashes to %s..., but checkpoint %s of the same "
                    "record says %s...: the log was rewritten or replaced since; handing out "
                    "the stored checkpoint, which `fedgov audit verify --checkpoints` will "
                    "hold against it",
                    self._log.path,
                    head.seq,
                    head.hash[:16],
                    kept.time_ms,
                    kept.head[:16],
                )
                made = kept
            self._last = made
            return made
