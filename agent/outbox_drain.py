"""Draining the outbox: send what waits, and drop each report once acknowledged.

When the outbox holds more than one report, they go on ``SubmitReports``
streams of up to :data:`SEND_BATCH` reports (the aggregator stores each batch
in one transaction); a single report goes by ``SubmitReport``; an aggregator
without the stream gets every report by ``SubmitReport``
(:meth:`agent.client.AggregatorClient.submit_many`). A report the aggregator
refuses stays in the outbox, and the others of its batch are still dropped:
nothing is lost, and one bad report does not hold back the rest. Each
acknowledgement is audited (``report_sent``) and its signed checkpoint kept.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from agent.client import Ack, AggregatorClient
from agent.exporter import AgentMetrics
from agent.state import AgentState
from fedgov.audit import AuditLog
from fedgov.errors import GovernanceError

__all__ = ["SEND_BATCH", "OutboxDrain"]

log = logging.getLogger(__name__)

SEND_BATCH = 32  # reports per SubmitReports stream: the aggregator's batch, at most


class OutboxDrain:
    def __init__(
        self,
        silo_id: str,
        client: Callable[[], AggregatorClient],
        state: AgentState,
        audit: AuditLog,
        metrics: AgentMetrics,
    ) -> None:
        self.silo_id = silo_id
        self.client = client  # the agent's client of the moment
        self.state = state
        self.audit = audit
        self.metrics = metrics

    def flush(self) -> int:
        """Send every report waiting in the outbox; returns how many were acknowledged.

        The first refusal is raised once the rest are acknowledged; failing to
        reach the aggregator raises at once (the batch stays in the outbox).
        """
        pending = self.state.outbox.pending()
        self.metrics.outbox.set(len(pending))
        sent = 0
        refused: GovernanceError | None = None
        for i in range(0, len(pending), SEND_BATCH):
            # The audit log's head goes with each report: the aggregator keeps it.
            head = self.audit.position()
            batch = [dataclasses.replace(r, audit_head=head) for r in pending[i : i + SEND_BATCH]]
            started = time.monotonic()
            try:
                outcomes = self.client().submit_many(batch)
            except GovernanceError:
                self.metrics.reports_failed.inc(len(batch))
                raise
            elapsed = time.monotonic() - started
            for report, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, GovernanceError):
                    log.error("%s: %s", self.silo_id, outcome)
                    self.metrics.reports_failed.inc()
                    refused = refused or outcome
                    continue
                self.metrics.submit_seconds.observe(elapsed)
                self._sent(report.report_id, outcome)
                sent += 1
        if refused is not None:
            raise refused
        return sent

    def _sent(self, report_id: str, ack: Ack) -> None:
        """An acknowledged report: audited, out of the outbox, counted."""
        self.audit.append("report_sent", report_id=report_id, duplicate=ack.duplicate)
        self._acknowledged(report_id, ack)
        self.metrics.reports_sent.inc()
        self.metrics.outbox.dec()
        log.info(
            "%s: report %s acknowledged%s",
            self.silo_id,
            report_id,
            " (already stored)" if ack.duplicate else "",
        )

    def _acknowledged(self, report_id: str, ack: Ack) -> None:
        """The report leaves the outbox and the ack's checkpoint is kept; a checkpoint
        that contradicts one kept before (the aggregator's log changed) is audited."""
        kept = self.state.record_ack(report_id, ack.checkpoint)
        if kept is None or ack.checkpoint is None:
            return
        log.error(
            "%s: the aggregator's checkpoint of its audit record %d names another head than "
            "the one it signed before: its audit log changed",
            self.silo_id,
            kept.seq,
        )
        self.audit.append(
            "aggregator_checkpoint_conflict",
            record=kept.seq,
            kept_head=kept.head,
            new_head=ack.checkpoint.head,
            key_id=kept.key_id,
        )
