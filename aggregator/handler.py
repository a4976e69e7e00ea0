"""What the aggregator does, independent of gRPC.

The servicer translates messages and calls these methods; the store keeps
state; the command hub wakes command streams.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aggregator.central import CentralGate
from aggregator.commands import CommandHub
from aggregator.latest import LatestReports
from aggregator.merge import matches_glob, merged_metrics
from aggregator.store import (
    CentralDecisionRecord,
    CommandRecord,
    DecisionRecord,
    DriftRecord,
    JobRecord,
    MetricPoint,
    ModelVersionRecord,
    SiloRecord,
    Store,
)
from fedgov.audit import AuditLog
from fedgov.errors import GovernanceError, NotRegistered, QueryError, ReportRejected, SpecError
from fedgov.report import Report, ReportLink, now_ms
from fedgov.spec import MonitoringSpec, NumericFeature
from fedgov.stats import outcome_layouts
from fedgov.wire import json_from_wire

if TYPE_CHECKING:
    from aggregator.retrain import RetrainCoordinator

__all__ = ["AggregatorHandler", "FairnessAnswer", "ModelRegistration"]

log = logging.getLogger(__name__)

_ENDED_JOB_STATES = ("promoted", "rejected", "failed")


@dataclass(frozen=True)
class ModelRegistration:
    model_id: str
    model_version: str
    spec_digest: str
    spec_json: str


@dataclass(frozen=True)
class FairnessAnswer:
    model_id: str
    model_version: str
    silos: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    rows: int
    reports: int
    metrics: dict[str, Any]


class AggregatorHandler:
    def __init__(
        self,
        store: Store,
        hub: CommandHub | None = None,
        central: CentralGate | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.store = store
        self.hub = hub or CommandHub()
        self.central = central
        self.audit = audit
        self._specs: dict[str, MonitoringSpec] = {}
        self._latest = LatestReports(store)  # what the central gate merges, decoded once
        # The link of the last report this process stored per (silo, model, version).
        # A stored report never changes, so it stands for the newest one whenever the
        # store's newest id is its id (another aggregator may have stored a newer one).
        self._links: dict[tuple[str, str, str], ReportLink] = {}
        self.coordinator: RetrainCoordinator | None = None
        self.cooldown_ms = 0  # after a job ends, ignore new triggers for this long
        # After a failed job, hold new triggers for this long, doubling with each
        # consecutive failure up to the maximum (see _trigger_hold).
        self.retry_after_failure_ms = 5 * 60_000
        self.retry_after_failure_max_ms = 6 * 3_600_000
        self.reannotation_dir: Path | None = None

    def _audit(self, kind: str, **fields: Any) -> None:
        if self.audit is not None:
            self.audit.append(kind, **fields)

    def record_denied(self, peer: str | None, claimed: str, what: str) -> None:
        log.warning("identity %r may not act as silo %r (%s)", peer, claimed, what)
        self._audit("identity_denied", peer=peer, claimed_silo=claimed, call=what)

    # -- registration ----------------------------------------------------------
    def register(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[ModelRegistration],
    ) -> None:
        if not silo_id or not jurisdiction:
            raise ReportRejected("register: silo_id and jurisdiction are required")
        for i, m in enumerate(models):
            where = f"models[{i}].spec_json"
            try:
                spec = MonitoringSpec.from_dict(
                    json_from_wire(m.spec_json, field=where), source=where
                )
            except SpecError as exc:  # a peer's spec, not this server's configuration
                raise ReportRejected(str(exc)) from None
            if spec.digest != m.spec_digest:
                raise ReportRejected(
                    f"models[{i}].spec_digest: does not match the spec's content "
                    f"(expected {spec.digest[:12]}...)"
                )
            if (spec.model_id, spec.model_version) != (m.model_id, m.model_version):
                raise ReportRejected(f"models[{i}]: model id/version differ from the spec's")
            self._specs[spec.digest] = spec
        self.store.register_silo(
            silo_id,
            jurisdiction,
            policy_bundle_digest,
            [(m.model_id, m.model_version, m.spec_digest, m.spec_json) for m in models],
        )
        for m in models:
            self._ensure_registered(m.model_id, m.model_version, m.spec_digest, silo_id)
        log.info("registered silo %s (%s) serving %d model(s)", silo_id, jurisdiction, len(models))
        self.hub.notify([silo_id])

    def spec(self, digest: str) -> MonitoringSpec | None:
        if digest not in self._specs:
            text = self.store.get_spec_json(digest)
            if text is None:
                return None
            self._specs[digest] = MonitoringSpec.from_dict(json.loads(text))
        return self._specs[digest]

    # -- ingest ----------------------------------------------------------------
    def ingest(self, report: Report) -> bool:
        """Validate and store; returns True if this report_id was already stored.

        The acknowledgement that follows is sent only after the store commit.
        """
        try:
            return self._ingest(report)
        except GovernanceError as exc:
            self._audit(
                "report_rejected", report_id=report.report_id, silo=report.silo_id, reason=str(exc)
            )
            raise

    def reject_malformed(self, report_id: str, silo_id: str, reason: str) -> None:
        """Audit a report that could not even be decoded."""
        self._audit("report_rejected", report_id=report_id, silo=silo_id, reason=reason)

    def _ingest(self, report: Report) -> bool:
        silo = self.store.get_silo(report.silo_id)
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
        spec = self.spec(digest)
        assert spec is not None  # registered digests always have their spec
        _check_against_spec(report, spec)
        chain_break = self._check_chain(report)
        inserted = self.store.add_report(report)
        if not inserted:
            # Audited too: if the aggregator died between a report's commit and its
            # report_accepted record, the agent's retry (it got no ack) lands here, so
            # every acknowledged report has a record either way.
            self._audit(
                "report_duplicate",
                report_id=report.report_id,
                silo=report.silo_id,
                model=report.model_id,
                version=report.model_version,
            )
            log.info("report %s from %s already stored", report.report_id, report.silo_id)
            return True
        self._links[(report.silo_id, report.model_id, report.model_version)] = ReportLink.of(report)
        if chain_break:
            self._audit(
                "report_chain_break",
                report_id=report.report_id,
                silo=report.silo_id,
                model=report.model_id,
                version=report.model_version,
                problem=chain_break,
            )
            log.warning("report %s from %s: %s", report.report_id, report.silo_id, chain_break)
        self._audit(
            "report_accepted",
            report_id=report.report_id,
            silo=report.silo_id,
            model=report.model_id,
            version=report.model_version,
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
        production = (
            self.central is not None or "retrain" in actions or "reannotate" in actions
        ) and self.is_production(report.model_id, report.model_version)
        if production and "retrain" in report.decision.actions:
            reason = "; ".join(report.decision.deny or ("retrain requested",))
            self._trigger_retrain(
                report.model_id, report.model_version, f"{report.silo_id}: {reason}"
            )
        if production and "reannotate" in report.decision.actions:
            self._request_reannotation(report)
        if self.central is not None and production:
            for group in self.central.groups_for(report.jurisdiction):
                self.evaluate_central(report.model_id, report.model_version, group)
        return False

    def evaluate_central(
        self, model_id: str, model_version: str, group: str
    ) -> CentralDecisionRecord | None:
        """Run the central gate on the group's merged latest reports; record the decision."""
        if self.central is None:
            return None
        reports = self._latest.get(model_id, model_version, group)
        if not reports:
            return None
        spec = self.spec(reports[0].spec_digest)
        assert spec is not None
        metrics = merged_metrics(spec, reports)
        stage = "monitoring" if self.is_production(model_id, model_version) else "candidate"
        decision = self.central.evaluate(group, reports, {**metrics, "stage": stage})
        rec = CentralDecisionRecord(
            model_id=model_id,
            model_version=model_version,
            jurisdiction_group=group,
            evaluated_ms=now_ms(),
            silos=tuple(sorted({r.silo_id for r in reports})),
            rows=int(sum(r.stats.rows for r in reports)),
            decision=decision,
        )
        self.store.add_central_decision(rec)
        self._audit(
            "central_decision",
            model=model_id,
            version=model_version,
            group=group,
            silos=list(rec.silos),
            allow=decision.allow,
            deny=list(decision.deny),
            actions=list(decision.actions),
            bundle_digest=decision.bundle_digest,
        )
        log.info(
            "central decision for %s/%s over %s (%s): allow=%s",
            model_id,
            model_version,
            group,
            ", ".join(rec.silos),
            decision.allow,
        )
        if "retrain" in decision.actions and stage == "monitoring":
            reason = "; ".join(decision.deny or ("retrain requested",))
            self._trigger_retrain(model_id, model_version, f"central {group}: {reason}")
        return rec

    def _check_chain(self, report: Report) -> str:
        """'' if the report links to the silo's newest stored one, else what is wrong.

        A chain break is flagged (audited, logged) but the report is still stored:
        nothing accepted is lost, and the flag tells an auditor where to look.
        """
        # A replayed duplicate may "break" here too, but the caller drops it
        # before auditing (add_report stores it once), so no lookup is needed.
        key = (report.silo_id, report.model_id, report.model_version)
        prev = self._links.get(key)
        newest = self.store.latest_report_id(*key)  # no payload read
        if newest is None:
            prev = None
        elif prev is None or prev.report_id != newest:
            prev = self.store.latest_link(*key)
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

    def _trigger_hold(self, model_id: str, model_version: str) -> tuple[JobRecord, int] | None:
        """The last ended job and when its hold on new triggers ends, if it still holds.

        Any ended job holds new triggers for ``cooldown_ms``. A failed one holds
        them at least ``retry_after_failure_ms``, doubled for each failure in a
        row, up to ``retry_after_failure_max_ms``: a job that cannot start (Flower
        missing, a silo down) would fail the same way at every report of a gate
        that keeps failing, so the next attempt waits, and each gives the
        operator longer to fix the cause. Open jobs absorb triggers in the store.
        """
        ended = sorted(
            (
                j
                for j in self.store.list_jobs(model_id)
                if j.model_version == model_version and j.state in _ENDED_JOB_STATES
            ),
            key=lambda j: j.updated_ms,
        )
        if not ended:
            return None
        last, hold = ended[-1], self.cooldown_ms
        if last.state == "failed":
            failures = 0
            for j in reversed(ended):
                if j.state != "failed":
                    break
                failures += 1
            backoff = self.retry_after_failure_ms * 2 ** min(failures - 1, 20)
            hold = max(hold, min(backoff, self.retry_after_failure_max_ms))
        until = last.updated_ms + hold
        return (last, until) if now_ms() < until else None

    def _trigger_retrain(self, model_id: str, model_version: str, reason: str) -> JobRecord | None:
        held = self._trigger_hold(model_id, model_version)
        if held is not None:
            last, until = held
            log.info(
                "retrain trigger for %s/%s held for another %.0f s after job %s %s",
                model_id,
                model_version,
                (until - now_ms()) / 1000,
                last.job_id,
                last.state,
            )
            self._audit(
                "job_trigger_cooldown",
                model=model_id,
                version=model_version,
                reason=reason,
                after_job=last.job_id,
                after_state=last.state,
                until_ms=until,
            )
            return None
        silos = [
            s.silo_id
            for s in self.store.list_silos()
            if any(m == model_id and v == model_version for m, v, _ in s.models)
        ]
        job, created = self.store.open_job(model_id, model_version, reason, silos)
        self._audit(
            "job_opened" if created else "job_trigger_attached",
            job_id=job.job_id,
            model=model_id,
            version=model_version,
            state=job.state,
            reason=reason,
            silos=silos,
        )
        if created:
            log.info(
                "retraining job %s for %s/%s dispatched to %s",
                job.job_id,
                job.model_id,
                job.model_version,
                ", ".join(silos),
            )
            self.hub.notify(silos)
            if self.coordinator is not None:
                self.coordinator.submit(job)
        else:
            log.info("retrain trigger (%s) attached to job %s", reason, job.job_id)
        return job

    # -- model registry ----------------------------------------------------------
    def _ensure_registered(self, model_id: str, version: str, digest: str, silo: str) -> None:
        """The first version a silo serves enters the registry as production."""
        if self.store.get_model_version(model_id, version) is None:
            try:
                self.store.add_model_version(
                    ModelVersionRecord(
                        model_id,
                        version,
                        "promoted",
                        now_ms(),
                        digest,
                        {"source": f"first served by silo {silo}"},
                    )
                )
            except Exception:  # noqa: BLE001 - a concurrent registration won the insert
                log.debug("model version %s/%s already registered", model_id, version)
        if self.store.resolve_alias(model_id, "production") is None:
            self.store.set_alias(model_id, "production", version)

    def is_production(self, model_id: str, version: str) -> bool:
        current = self.store.resolve_alias(model_id, "production")
        return current is None or current == version

    def spec_for(self, model_id: str, version: str) -> MonitoringSpec:
        for silo in self.store.list_silos():
            for m, v, digest in silo.models:
                if (m, v) == (model_id, version):
                    spec = self.spec(digest)
                    if spec is not None:
                        return spec
        raise QueryError(f"no spec registered for {model_id}/{version}")

    def register_candidate_spec(self, spec: MonitoringSpec) -> None:
        """Make a candidate's spec known so that silos' evaluation reports validate."""
        self._specs[spec.digest] = spec
        for silo in self.store.list_silos():
            if any(m == spec.model_id for m, _, _ in silo.models):
                models = [
                    (m, v, d, self.store.get_spec_json(d) or "")
                    for m, v, d in silo.models
                    if v != spec.model_version
                ]
                models.append(
                    (spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict()))
                )
                self.store.register_silo(
                    silo.silo_id, silo.jurisdiction, silo.policy_bundle_digest, models
                )

    def send_commands(
        self, job_id: str, kind: str, silos: Sequence[str], reason: str, payload: dict[str, Any]
    ) -> list[CommandRecord]:
        cmds = self.store.add_commands(job_id, kind, silos, reason, json.dumps(payload))
        self._audit("commands_sent", job_id=job_id, command=kind, silos=list(silos))
        self.hub.notify(silos)
        return cmds

    def gate_candidate(self, model_id: str, version: str) -> tuple[bool, list[str]]:
        """The promotion gate: every local decision and every central group must allow."""
        reasons: list[str] = []
        reports = self._latest.get(model_id, version)
        for r in reports:
            if not r.decision.allow:
                reasons += [f"{r.silo_id}: {d}" for d in r.decision.deny] or [f"{r.silo_id}: deny"]
        if self.central is not None:
            groups = {g for r in reports for g in self.central.groups_for(r.jurisdiction)}
            for group in sorted(groups):
                rec = self.evaluate_central(model_id, version, group)
                if rec is not None and not rec.decision.allow:
                    reasons += [f"central {group}: {d}" for d in rec.decision.deny]
        self._audit(
            "candidate_gate", model=model_id, version=version, allow=not reasons, reasons=reasons
        )
        return not reasons, reasons

    def promote(
        self, model_id: str, version: str, *, reason: str, job_id: str | None = None
    ) -> str | None:
        rec = self.store.get_model_version(model_id, version)
        if rec is None:
            raise QueryError(f"no model version {model_id}/{version} in the registry")
        previous = self.store.set_alias(model_id, "production", version)
        self.store.set_model_status(model_id, version, "promoted")
        if previous and previous != version:
            self.store.set_model_status(model_id, previous, "retired")
        self._audit(
            "model_promoted", model=model_id, version=version, previous=previous, reason=reason
        )
        silos = [
            s.silo_id for s in self.store.list_silos() if any(m == model_id for m, _, _ in s.models)
        ]
        spec = self.spec(rec.spec_digest)
        payload: dict[str, Any] = {"version": version, "spec": spec.to_dict() if spec else None}
        if rec.artifact is not None:
            import base64

            payload["artifact_b64"] = base64.b64encode(rec.artifact).decode()
        # Announced under the job that made the version (acks are tracked per job).
        job_id = job_id or rec.lineage.get("job_id")
        if job_id is None:
            jobs = self.store.list_jobs(model_id)
            job_id = jobs[-1].job_id if jobs else None
        if job_id is not None and silos:
            self.send_commands(job_id, "promote", silos, reason, payload)
        return previous

    def rollback(self, model_id: str) -> str:
        """Point production back at the version it held before the current one."""
        history = [v for v, _ in self.store.alias_history(model_id, "production")]
        current = self.store.resolve_alias(model_id, "production")
        earlier = [v for v in history if v != current]
        if not earlier:
            raise QueryError(f"{model_id}: no earlier production version to roll back to")
        self.promote(model_id, earlier[0], reason=f"rollback from {current}")
        return earlier[0]

    def _request_reannotation(self, report: Report) -> None:
        """Write a re-annotation request naming failing slices by counts, never rows."""
        if self.reannotation_dir is None:
            log.warning(
                "reannotate requested by %s but no reannotation folder is set", report.silo_id
            )
            return
        slices = []
        for attr, m in (report.metrics.get("fairness") or {}).items():
            for group, g in (m.get("groups") or {}).items():
                if g.get("count"):
                    slices.append(
                        {
                            "attribute": attr,
                            "group": group,
                            "rows": g["count"],
                            "positives": g.get("positives"),
                            "tpr": g.get("tpr"),
                            "fpr": g.get("fpr"),
                        }
                    )
        doc = {
            "report_id": report.report_id,
            "silo": report.silo_id,
            "model": report.model_id,
            "version": report.model_version,
            "reasons": list(report.decision.deny),
            "slices": slices,
        }
        self.reannotation_dir.mkdir(parents=True, exist_ok=True)
        path = self.reannotation_dir / f"reannotate-{report.report_id}.json"
        path.write_text(json.dumps(doc, indent=2, sort_keys=True))
        self._audit("reannotation_requested", report_id=report.report_id, path=str(path))

    # -- commands --------------------------------------------------------------
    def pending_commands(self, silo_id: str) -> list[CommandRecord]:
        return self.store.pending_commands(silo_id)

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        if status not in ("accepted", "rejected"):
            raise ReportRejected(f"command ack status must be accepted or rejected, got {status!r}")
        ok = self.store.ack_command(command_id, silo_id, status, message)
        self._audit("command_ack", command_id=command_id, silo=silo_id, status=status, recorded=ok)
        if ok:
            log.info("silo %s %s command %s", silo_id, status, command_id)
        return ok

    # -- queries ---------------------------------------------------------------
    def query_drift(
        self,
        psi_threshold: float,
        *,
        since_ms: int = 0,
        model_id: str | None = None,
        jurisdiction_glob: str | None = None,
    ) -> list[DriftRecord]:
        if not np.isfinite(psi_threshold) or psi_threshold < 0:
            raise QueryError(f"psi threshold must be a finite number >= 0, got {psi_threshold}")
        rows = self.store.drift_above(psi_threshold, since_ms=since_ms, model_id=model_id or None)
        return [r for r in rows if matches_glob(r.jurisdiction, jurisdiction_glob)]

    def query_fairness(
        self,
        model_id: str,
        *,
        model_version: str | None = None,
        jurisdiction_glob: str | None = None,
        since_ms: int = 0,
    ) -> FairnessAnswer:
        if not model_id:
            raise QueryError("fairness query: a model id is required")
        # Without a version, merge the newest version that has reports.
        if since_ms:
            reports = [
                r
                for r in self.store.reports_for_model(
                    model_id, model_version or None, since_ms=since_ms, latest_only=False
                )
                if matches_glob(r.jurisdiction, jurisdiction_glob)
            ]
            if not reports:
                raise _no_reports(model_id, model_version, jurisdiction_glob)
            if not model_version:
                newest = max(reports, key=lambda r: r.window_end_ms).model_version
                reports = [r for r in reports if r.model_version == newest]
        else:
            # The newest report of each silo: picked by id, decoded only if not held already.
            refs = [
                ref
                for ref in self.store.latest_report_refs(model_id, model_version or None)
                if matches_glob(ref.jurisdiction, jurisdiction_glob)
            ]
            if not refs:
                raise _no_reports(model_id, model_version, jurisdiction_glob)
            if not model_version:
                newest = max(refs, key=lambda r: r.window_end_ms).model_version
                refs = [r for r in refs if r.model_version == newest]
            reports = self._latest.reports(refs)
        spec = self.spec(reports[0].spec_digest)
        if spec is None:
            raise QueryError(f"spec {reports[0].spec_digest[:12]} is unknown")
        metrics = merged_metrics(spec, reports)
        return FairnessAnswer(
            model_id=model_id,
            model_version=reports[0].model_version,
            silos=tuple(sorted({r.silo_id for r in reports})),
            jurisdictions=tuple(sorted({r.jurisdiction for r in reports})),
            rows=int(sum(r.stats.rows for r in reports)),
            reports=len(reports),
            metrics=metrics,
        )

    def query_decisions(self, jurisdiction_glob: str | None = None) -> list[DecisionRecord]:
        """The decision of the newest report of every (silo, model, version)."""
        return [
            r
            for r in self.store.latest_decisions()
            if matches_glob(r.jurisdiction, jurisdiction_glob)
        ]

    def query_silos(
        self,
        *,
        stale_after_ms: int = 0,
        jurisdiction_glob: str | None = None,
        now: int | None = None,
    ) -> list[SiloRecord]:
        """Registered silos; with ``stale_after_ms`` only those silent for longer."""
        if stale_after_ms < 0:
            raise QueryError("stale duration must be >= 0")
        t = now_ms() if now is None else now
        return [
            s
            for s in self.store.list_silos()
            if matches_glob(s.jurisdiction, jurisdiction_glob)
            and (not stale_after_ms or t - s.last_seen_ms > stale_after_ms)
        ]

    def query_history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str | None = None,
        attribute: str | None = None,
        since_ms: int = 0,
        jurisdiction_glob: str | None = None,
    ) -> list[MetricPoint]:
        """The metric's value in every report of the model, oldest first.

        A drift metric is read from ``drift.features[feature]``, a fairness metric
        from ``fairness[attribute]``, anything else from the top level. A point's
        value is None where the report has no number there.
        """
        if not model_id or not metric:
            raise QueryError("history query: a model id and a metric name are required")
        points = [
            p
            for p in self.store.metric_history(
                model_id, _metric_path(metric, feature, attribute), since_ms=since_ms
            )
            if matches_glob(p.jurisdiction, jurisdiction_glob)
        ]
        if points and all(p.value is None for p in points):
            where = (
                f"feature {feature!r}"
                if feature
                else f"attribute {attribute!r}"
                if attribute
                else "top level"
            )
            raise QueryError(
                f"metric {metric!r} at {where} is in none of the {len(points)} report(s); "
                "drift metrics need --feature, fairness metrics need --attribute"
            )
        return points

    def central_decisions(self) -> list[CentralDecisionRecord]:
        return self.store.latest_central_decisions()

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]:
        return self.store.list_jobs(model_id or None)


def _no_reports(model_id: str, model_version: str | None, glob: str | None) -> QueryError:
    return QueryError(
        f"no reports for model {model_id!r}"
        + (f" version {model_version}" if model_version else "")
        + (f" in jurisdictions {glob!r}" if glob else "")
    )


def _metric_path(metric: str, feature: str | None, attribute: str | None) -> tuple[str, ...]:
    """Where a metric sits in a report's metrics (see :func:`aggregator.store.metric_at`)."""
    if feature:
        return ("drift", "features", feature, metric)
    if attribute:
        return ("fairness", attribute, metric)
    return (metric,)


def _check_against_spec(report: Report, spec: MonitoringSpec) -> None:
    """Counts must have the spec's layout and add up; otherwise reject, naming the field.

    Every count vector has the spec's cell layout (fine counts exactly when
    the spec has fine edges), every count is >= 0, and each vector adds up
    to the window's rows once the rows small-cell suppression removed are
    added back (``suppressed``, which only statistics with ``privacy.k`` may
    have). Noised statistics (``privacy.epsilon``) cannot add up, as every
    count got its own noise: for them only the layout and signs are checked.
    Score histograms are checked the same way (:func:`_check_scores`).
    """
    stats = report.stats
    noised = stats.privacy.epsilon is not None
    where = "report.stats"
    if stats.rows < 0 or stats.outcome_missing < 0:
        raise ReportRejected(f"{where}: rows and outcome_missing must be >= 0")
    names = {f.name for f in spec.features}
    extra = sorted(set(stats.features) - names)
    if extra:
        raise ReportRejected(f"{where}.features: not in the spec: {extra}")
    total, least = _sums_and_minima(
        [v for fc in stats.features.values() for v in (fc.counts, fc.fine)]
        + [oc.counts for oc in stats.outcomes.values()]
        + [sc.counts for sc in stats.scores.values()]
    )
    for f in spec.features:
        fc = stats.features.get(f.name)
        if fc is None:
            raise ReportRejected(f"{where}.features: missing feature {f.name!r}")
        at = f"{where}.features[{f.name}]"
        kind = "numeric" if isinstance(f, NumericFeature) else "categorical"
        if fc.kind != kind or len(fc.counts) != f.n_cells:
            raise ReportRejected(
                f"{at}: expected {f.n_cells} {kind} cells, got {len(fc.counts)} {fc.kind}"
            )
        n_fine = f.n_fine_cells if isinstance(f, NumericFeature) else 0
        if len(fc.fine) != n_fine:
            raise ReportRejected(
                f"{at}.fine: expected {n_fine} cells (the spec's fine_edges), got {len(fc.fine)}"
            )
        if least[id(fc.counts)] < 0 or least[id(fc.fine)] < 0:
            raise ReportRejected(f"{at}: negative count")
        _check_suppressed(at, stats.privacy.k, fc.suppressed, fc.fine_suppressed)
        if noised:
            continue
        vectors = [("counts", fc.counts, fc.suppressed)]
        if n_fine:
            vectors.append(("fine", fc.fine, fc.fine_suppressed))
        for label, counts, suppressed in vectors:
            if total[id(counts)] + suppressed != stats.rows:
                raise ReportRejected(
                    f"{at}.{label}: counts add up to {total[id(counts)]} + {suppressed} "
                    f"suppressed, but the window has {stats.rows} rows"
                )
    layouts = outcome_layouts(spec)
    if set(stats.outcomes) != set(layouts):
        raise ReportRejected(
            f"{where}.outcomes: expected attributes {sorted(layouts)}, got {sorted(stats.outcomes)}"
        )
    for attr, oc in stats.outcomes.items():
        at = f"{where}.outcomes[{attr}]"
        if oc.groups != layouts[attr][1]:
            raise ReportRejected(f"{at}: groups differ from the spec's {list(layouts[attr][1])}")
        if least[id(oc.counts)] < 0:
            raise ReportRejected(f"{at}: negative count")
        _check_suppressed(at, stats.privacy.k, oc.suppressed)
        cells = total[id(oc.counts)]
        if not noised and cells + oc.suppressed + stats.outcome_missing != stats.rows:
            raise ReportRejected(
                f"{at}: counts add up to {cells} + {oc.suppressed} suppressed "
                f"+ {stats.outcome_missing} missing, but the window has {stats.rows} rows"
            )
    _check_scores(report, spec, layouts, total, least)


def _check_scores(
    report: Report,
    spec: MonitoringSpec,
    layouts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    total: dict[int, int],
    least: dict[int, int],
) -> None:
    """Score histograms: one per outcome table exactly when the spec has a score column.

    A report with no score tables at all is accepted for a spec with a score
    column: agents made before score histograms existed send none, and the
    merge then leaves AUC and calibration out (:func:`aggregator.merge.merge_stats`).
    Each table has the outcome table's groups and ``2 * (k + 3)`` cells per
    group; it counts the outcome table's rows, so (without noise) it adds up to
    ``rows - outcome_missing`` with its ``suppressed``, and (with nothing
    suppressed either) each group and label has as many rows in both tables.
    ``total`` and ``least`` are the sums and minima of :func:`_sums_and_minima`.
    """
    stats = report.stats
    where = "report.stats.scores"
    if not stats.scores:
        return
    if not spec.score:
        raise ReportRejected(
            f"{where}: the spec names no score column, but the report has score tables "
            f"{sorted(stats.scores)}"
        )
    if set(stats.scores) != set(layouts):
        raise ReportRejected(
            f"{where}: expected one table per attribute {sorted(layouts)}, "
            f"got {sorted(stats.scores)}"
        )
    noised = stats.privacy.epsilon is not None
    for attr, sc in stats.scores.items():
        at = f"{where}[{attr}]"
        if sc.groups != layouts[attr][1]:
            raise ReportRejected(f"{at}: groups differ from the spec's {list(layouts[attr][1])}")
        if sc.n_cells != spec.n_score_cells:
            raise ReportRejected(
                f"{at}: expected {spec.n_score_cells} cells per group and label (the spec's "
                f"score_edges), got {sc.n_cells}"
            )
        if least[id(sc.counts)] < 0:
            raise ReportRejected(f"{at}: negative count")
        _check_suppressed(at, stats.privacy.k, sc.suppressed)
        if noised:
            continue
        cells = total[id(sc.counts)]
        if cells + sc.suppressed + stats.outcome_missing != stats.rows:
            raise ReportRejected(
                f"{at}: counts add up to {cells} + {sc.suppressed} suppressed "
                f"+ {stats.outcome_missing} missing, but the window has {stats.rows} rows"
            )
        oc = stats.outcomes[attr]
        if sc.suppressed or oc.suppressed:
            continue
        per_score, per_outcome = sc.counts.sum(axis=2), oc.counts.sum(axis=2)
        if not np.array_equal(per_score, per_outcome):
            g, y = (int(i) for i in np.argwhere(per_score != per_outcome)[0])
            raise ReportRejected(
                f"{at}: group {sc.groups[g]!r} with y_true={y} has {int(per_score[g, y])} "
                f"scored rows but {int(per_outcome[g, y])} rows in the outcome counts; both "
                "tables count the same rows"
            )


def _sums_and_minima(arrays: list[np.ndarray]) -> tuple[dict[int, int], dict[int, int]]:
    """Sum and minimum of each count array (0 for an empty one), keyed by ``id``.

    One concatenation and two ``reduceat`` calls instead of two numpy calls per
    array: a report holds about fifty count arrays.
    """
    full = [a for a in arrays if a.size]
    total = {id(a): 0 for a in arrays}
    least = dict(total)
    if full:
        flat = np.concatenate([a.ravel() for a in full])
        starts = np.cumsum([0] + [a.size for a in full[:-1]])
        for a, t, m in zip(
            full,
            np.add.reduceat(flat, starts).tolist(),
            np.minimum.reduceat(flat, starts).tolist(),
            strict=True,
        ):
            total[id(a)] = t
            least[id(a)] = m
    return total, least


def _check_suppressed(at: str, k: int | None, *suppressed: int) -> None:
    if min(suppressed) < 0:
        raise ReportRejected(f"{at}: suppressed must be >= 0")
    if k is None and max(suppressed) > 0:
        raise ReportRejected(f"{at}: rows are marked suppressed, but stats.privacy.k is not set")
