"""Ingest: validate a silo's report, store it once, then act on its decision.

A report must come from a registered silo, for a model version it
registered, under that version's spec and the silo's jurisdiction, with
statistics that fit the spec (:mod:`aggregator.validation`). Its hash link to
the silo's previous report is checked: a break is flagged, never a reason to
lose the report. The audit head it carries is kept with it, and one that
contradicts an earlier head of the silo is flagged (:mod:`aggregator.anchors`).
Once stored (a duplicate id is acknowledged, not stored
again), a production model's report may trigger retraining, a re-annotation
request and the central gate. Every outcome is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator._audit import Audit, together
from aggregator.anchors import SiloHeads
from aggregator.gates import Gates
from aggregator.jobs import JobTrigger
from aggregator.reannotation import Reannotation
from aggregator.registry import ModelRegistry
from aggregator.specs import SpecCache
from aggregator.store import SiloRecord, Store
from aggregator.validation import check_against_spec, check_audit_head
from fedgov.errors import GovernanceError, NotRegistered, ReportRejected
from fedgov.report import Report, ReportLink

__all__ = ["Ingest", "Undecoded"]

log = logging.getLogger(__name__)


def _about(report: Report) -> dict[str, str]:
    """The fields every audit record of a stored report starts with."""
    return {
        "report_id": report.report_id,
        "silo": report.silo_id,
        "model": report.model_id,
        "version": report.model_version,
    }


@dataclass(frozen=True)
class Undecoded:
    """A report of a batch that did not decode: its id and silo as sent, and why."""

    report_id: str
    silo_id: str
    error: GovernanceError


class _Batch:
    """What the checks of one batch remember: the silos read, and the newest link of
    each (silo, model, version) so far (the store's, then the batch's own)."""

    __slots__ = ("silos", "newest")

    def __init__(self) -> None:
        self.silos: dict[str, SiloRecord | None] = {}
        self.newest: dict[tuple[str, str, str], ReportLink] = {}


@dataclass(eq=False)
class Ingest:
    _store: Store
    _specs: SpecCache
    _registry: ModelRegistry
    _gates: Gates
    _jobs: JobTrigger
    _reannotation: Reannotation
    _audit: Audit
    _heads: SiloHeads
    # The link of the last report this process stored per (silo, model, version).
    # A stored report never changes, so it stands for the newest one whenever the
    # store's newest id is its id (another aggregator may have stored a newer one).
    _links: dict[tuple[str, str, str], ReportLink] = field(default_factory=dict, init=False)

    def ingest(self, report: Report) -> bool:
        """Validate and store; returns True if this report_id was already stored.

        The acknowledgement that follows is sent only after the store commit.
        """
        outcome = self.ingest_many([report])[0]
        if isinstance(outcome, GovernanceError):
            raise outcome
        return outcome

    def ingest_many(self, reports: Sequence[Report | Undecoded]) -> list[bool | GovernanceError]:
        """Validate each report, store the valid ones in one store transaction, then
        audit and act on each in order, as :meth:`ingest` does one. For each report:
        True (already stored), False (stored now) or why it was refused, alone (an
        :class:`Undecoded` one is refused with its error).

        The audit records of the batch are appended together when it is done (one
        fsync), in the order :meth:`ingest` would have appended them one by one.
        """
        with together(self._audit):
            batch = _Batch()
            checked: list[tuple[Report, str] | GovernanceError] = []
            for report in reports:
                try:
                    if isinstance(report, Undecoded):
                        raise report.error
                    checked.append((report, self._check(report, batch)))
                except GovernanceError as exc:
                    checked.append(exc)
            valid = [c[0] for c in checked if not isinstance(c, GovernanceError)]
            stored = iter(self._store.add_reports(valid))  # and their audit heads
            outcomes: list[bool | GovernanceError] = []
            for report, c in zip(reports, checked, strict=True):
                try:
                    if isinstance(c, GovernanceError):
                        raise c
                    outcomes.append(self._stored(c[0], next(stored), c[1]))
                except GovernanceError as exc:
                    self.reject_malformed(report.report_id, report.silo_id, str(exc))
                    outcomes.append(exc)
            return outcomes

    def reject_malformed(self, report_id: str, silo_id: str, reason: str) -> None:
        """Audit a refused report (one that could not even be decoded, say)."""
        self._audit("report_rejected", report_id=report_id, silo=silo_id, reason=reason)

    def _check(self, report: Report, batch: _Batch) -> str:
        """Raise why the report is refused; else '' or the break in its chain."""
        if report.silo_id not in batch.silos:  # a silo not registered is remembered too
            batch.silos[report.silo_id] = self._store.get_silo(report.silo_id)
        silo = batch.silos[report.silo_id]
        if silo is None:
            raise NotRegistered(f"silo {report.silo_id!r} is not registered; call Register first")
        served = {(m, v): d for m, v, d in silo.models}
        digest = served.get((report.model_id, report.model_version))
        if digest is None:
            raise NotRegistered(
                f"model {report.model_id} version {report.model_version} is not registered "
                f"for silo {report.silo_id}"
            )
        if digest != report.spec_digest:
            raise NotRegistered(
                f"report.spec_digest {report.spec_digest[:12]}... differs from the spec registered "
                f"for {report.model_id}/{report.model_version} ({digest[:12]}...)"
            )
        if report.jurisdiction != silo.jurisdiction:
            raise ReportRejected(
                f"report.jurisdiction {report.jurisdiction!r} differs from the silo's registered "
                f"jurisdiction {silo.jurisdiction!r}"
            )
        spec = self._specs.get(digest)
        assert spec is not None  # registered digests always have their spec
        check_against_spec(report, spec)
        check_audit_head(report)
        return self._check_chain(report, batch)

    def _stored(self, report: Report, inserted: bool, chain_break: str) -> bool:
        """After the commit: audit the report and act on its decision; True if a duplicate."""
        self._heads.check_stored(report)
        if not inserted:
            # Audited too: if the aggregator died between a report's commit and its
            # report_accepted record, the agent's retry (it got no ack) lands here, so
            # every acknowledged report has a record either way.
            self._audit("report_duplicate", **_about(report))
            log.info("report %s from %s already stored", report.report_id, report.silo_id)
            return True
        self._links[(report.silo_id, report.model_id, report.model_version)] = ReportLink.of(report)
        if chain_break:
            self._audit("report_chain_break", **_about(report), problem=chain_break)
            log.warning("report %s from %s: %s", report.report_id, report.silo_id, chain_break)
        self._audit(
            "report_accepted",
            **_about(report),
            allow=report.decision.allow,
            actions=list(report.decision.actions),
            input_digest=report.input_digest,
        )
        # DEBUG: at thousands of reports a second a line each is noise; the audit log
        # records every accepted report, and fedgov_aggregator_reports_total counts them.
        log.debug(
            "stored report %s from %s (%s) allow=%s",
            report.report_id,
            report.silo_id,
            report.jurisdiction,
            report.decision.allow,
        )
        # Only a report that asks for an action, or a central gate, needs the registry.
        actions = report.decision.actions
        central = self._gates.central
        production = (
            central is not None or "retrain" in actions or "reannotate" in actions
        ) and self._registry.is_production(report.model_id, report.model_version)
        if production and "retrain" in report.decision.actions:
            reason = "; ".join(report.decision.deny or ("retrain requested",))
            self._jobs.trigger(report.model_id, report.model_version, f"{report.silo_id}: {reason}")
        if production and "reannotate" in report.decision.actions:
            self._reannotation.request(report)
        if central is not None and production:
            for group in central.groups_for(report.jurisdiction):
                self._gates.evaluate_central(report.model_id, report.model_version, group)
        return False

    def _check_chain(self, report: Report, batch: _Batch) -> str:
        """'' if the report links to the silo's newest stored one, else what is wrong.

        A chain break is flagged (audited, logged) but the report is still stored:
        nothing accepted is lost, and the flag tells an auditor where to look.
        Within a batch, the newest is the newest stored or checked before it.
        """
        # A replayed duplicate may "break" here too, but the caller drops it
        # before auditing (add_report stores it once), so no lookup is needed.
        key = (report.silo_id, report.model_id, report.model_version)
        prev: ReportLink | None
        if key in batch.newest:
            prev = batch.newest[key]
        else:
            prev = self._links.get(key)
            newest = self._store.latest_report_id(*key)  # no payload read
            if newest is None:
                prev = None
            elif prev is None or prev.report_id != newest:
                prev = self._store.latest_link(*key)
        # As the store's latest pointer moves: to a window ending as late or later.
        if prev is None or report.window_end_ms >= prev.window_end_ms:
            batch.newest[key] = ReportLink.of(report)
        expected = prev.hash if prev is not None else ""
        if report.prev_report_hash == expected:
            return ""
        if prev is not None and report.window_end_ms < prev.window_end_ms:
            return f"out of order: its window ends before that of {prev.report_id}"
        if not report.prev_report_hash:
            return "chain restarted: no link to the previous report (agent state reset?)"
        return (
            "missing report(s): it links to a report the aggregator does not have as the "
            f"newest ({'none stored' if prev is None else prev.report_id})"
        )
