"""The aggregator's gates: the central policy over merged reports, and the promotion gate.

The central gate merges the newest report of every silo in a jurisdiction
group, evaluates the organisation's policy on the merged figures, and
records and audits the decision; for a production model a decision asking
for retraining triggers a job. The promotion gate lets a candidate through
only if every silo's local decision and every group's central decision allow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aggregator._audit import Audit
from aggregator.central import CentralGate
from aggregator.jobs import JobTrigger
from aggregator.latest import LatestReports
from aggregator.merge import merged_metrics
from aggregator.registry import ModelRegistry
from aggregator.specs import SpecCache
from aggregator.store import CentralDecisionRecord, ReleaseRecord, Store
from fedgov.metrics import compute_metrics
from fedgov.report import now_ms
from fedgov.stats import WindowStats

__all__ = ["Gates"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Gates:
    """The central gate (``central``, None: no central policy) and the promotion gate."""

    _store: Store
    _specs: SpecCache
    _latest: LatestReports
    central: CentralGate | None
    _registry: ModelRegistry
    _jobs: JobTrigger
    _audit: Audit

    def evaluate_central(
        self, model_id: str, model_version: str, group: str
    ) -> CentralDecisionRecord | None:
        """Run the central gate on the group's merged latest reports; record the decision."""
        if self.central is None:
            return None
        reports = self._latest.get(model_id, model_version, group)
        if not reports:
            return None
        spec = self._specs.get(reports[0].spec_digest)
        assert spec is not None
        inp = self.central.policy_input(group, reports, merged_metrics(spec, reports))
        return self._decide(inp, int(sum(r.stats.rows for r in reports)), "")

    def evaluate_release(
        self, release: ReleaseRecord, stats: WindowStats, source: str
    ) -> CentralDecisionRecord | None:
        """Run the central gate on a released secure sum when its part is a central group."""
        if self.central is None or release.part not in self.central.groups:
            return None
        spec = self._specs.get(stats.spec_digest)
        if spec is None:
            return None
        inp = self.central.subject_input(
            release.part,
            (release.model_id, release.model_version),
            release.silos,
            (release.period_start_ms, release.period_end_ms),
            {**compute_metrics(spec, stats), "source": source},
        )
        return self._decide(inp, stats.rows, source)

    def _decide(self, inp: dict[str, Any], rows: int, source: str) -> CentralDecisionRecord:
        """Evaluate, record and audit a central decision; trigger retraining if it asks."""
        assert self.central is not None
        model_id, model_version = inp["model"]["id"], inp["model"]["version"]
        group = inp["jurisdiction"]
        production = self._registry.is_production(model_id, model_version)
        stage = "monitoring" if production else "candidate"
        decision = self.central.engine.evaluate({**inp, "stage": stage})
        rec = CentralDecisionRecord(
            model_id=model_id,
            model_version=model_version,
            jurisdiction_group=group,
            evaluated_ms=now_ms(),
            silos=tuple(inp["silos"]),
            rows=rows,
            decision=decision,
            source=source,
        )
        self._store.add_central_decision(rec)
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
            source=source or "per-silo reports",
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
            self._jobs.trigger(model_id, model_version, f"central {group}: {reason}")
        return rec

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
