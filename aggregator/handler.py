"""What the aggregator does, independent of gRPC: the parts, put together.

:class:`AggregatorHandler` is a facade: it builds the parts (registration,
ingest, gates, jobs, model registry, commands, queries, audit anchors) on one store, command
hub, central gate and audit log, and keeps the method names the servicer,
the CLI and the tests call. The work is done in the parts' modules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, TypeVar, overload

from aggregator._audit import AuditSink
from aggregator.anchors import Checkpoints, SiloHeads
from aggregator.answers import Fairness
from aggregator.central import CentralGate
from aggregator.gates import Gates
from aggregator.ingest import Ingest
from aggregator.jobs import JobTrigger
from aggregator.latest import LatestReports
from aggregator.queries import Queries
from aggregator.reannotation import Reannotation
from aggregator.registration import ModelRegistration, Registration
from aggregator.registry import ModelRegistry
from aggregator.retrain import RetrainCoordinator, TrainingSettings
from aggregator.silo_commands import CommandHub, Commands
from aggregator.specs import SpecCache
from aggregator.store import (
    CentralDecisionRecord,
    CommandRecord,
    DecisionRecord,
    DriftRecord,
    JobRecord,
    MetricPoint,
    ModelVersionRecord,
    SiloApproval,
    SiloRecord,
    Store,
)
from fedgov.anchors import ReceivedHead
from fedgov.audit import AuditLog
from fedgov.checkpoints import Checkpoint, CheckpointKey
from fedgov.report import Report

__all__ = ["AggregatorHandler", "ModelRegistration"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Forwarded(Generic[T]):
    """A setting of the handler that reads and writes ``part.name`` (the part owns it)."""

    def __init__(self, part: str, name: str) -> None:
        self._part = part
        self._name = name

    @overload
    def __get__(self, handler: None, owner: type) -> _Forwarded[T]: ...
    @overload
    def __get__(self, handler: object, owner: type) -> T: ...
    def __get__(self, handler: object, owner: type) -> T | _Forwarded[T]:
        if handler is None:
            return self
        value: T = getattr(getattr(handler, self._part), self._name)
        return value

    def __set__(self, handler: object, value: T) -> None:
        setattr(getattr(handler, self._part), self._name, value)


class AggregatorHandler:
    def __init__(
        self,
        store: Store,
        hub: CommandHub | None = None,
        central: CentralGate | None = None,
        audit: AuditLog | None = None,
        checkpoint_key: CheckpointKey | None = None,
    ) -> None:
        self.store = store
        self.hub = hub or CommandHub()
        self.central = central
        self.audit = audit
        self._audit = AuditSink(audit)
        self.specs = SpecCache(store)
        latest = LatestReports(store)  # what the gates and queries merge, decoded once
        self.commands = Commands(store, self.hub, self._audit)
        self.registry = ModelRegistry(store, self.specs, self.commands, self._audit)
        self.jobs = JobTrigger(store, self.hub, self._audit)
        self.gates = Gates(
            store, self.specs, latest, central, self.registry, self.jobs, self._audit
        )
        self.reannotation = Reannotation(self._audit)
        self.heads = SiloHeads(store, self._audit)
        self.checkpoints = Checkpoints(store, audit, checkpoint_key)
        self.registration = Registration(store, self.specs, self.registry, self.hub, self._audit)
        self.ingestion = Ingest(
            store,
            self.specs,
            self.registry,
            self.gates,
            self.jobs,
            self.reannotation,
            self._audit,
            self.heads,
        )
        self.queries = Queries(store, self.specs, latest)
        self._coordinator: RetrainCoordinator | None = None

    # -- settings the CLI and tests set -----------------------------------------
    @property
    def coordinator(self) -> RetrainCoordinator | None:
        return self._coordinator

    @coordinator.setter
    def coordinator(self, coordinator: RetrainCoordinator | None) -> None:
        self._coordinator = coordinator
        self.jobs.runner = coordinator

    def start_retraining(
        self, settings: TrainingSettings | None = None, *, workdir: Path | None = None
    ) -> RetrainCoordinator:
        """Run retraining jobs from now on with a coordinator built from these parts."""
        self.coordinator = RetrainCoordinator(
            self.store,
            self.registry,
            self._audit,
            commands=self.commands,
            gate=self.gates.gate_candidate,
            settings=settings,
            workdir=workdir,
        )
        return self.coordinator

    cooldown_ms = _Forwarded[int]("jobs", "cooldown_ms")
    retry_after_failure_ms = _Forwarded[int]("jobs", "retry_after_failure_ms")
    retry_after_failure_max_ms = _Forwarded[int]("jobs", "retry_after_failure_max_ms")
    reannotation_dir = _Forwarded[Path | None]("reannotation", "folder")

    # -- silos -------------------------------------------------------------------
    def record_denied(self, peer: str | None, claimed: str, what: str) -> None:
        log.warning("%s may not act as %s (%s)", peer or "a caller", claimed, what)
        self._audit("identity_denied", peer=peer, claimed=claimed, call=what)

    def approve_silo(
        self, silo_id: str, jurisdiction: str, *, approved_by: str, reason: str
    ) -> SiloApproval:
        return self.registration.approve(
            silo_id, jurisdiction, approved_by=approved_by, reason=reason
        )

    def approved_jurisdiction(self, silo_id: str) -> str | None:
        return self.store.approved_jurisdiction(silo_id)

    def register(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[ModelRegistration],
    ) -> None:
        self.registration.register(silo_id, jurisdiction, policy_bundle_digest, models)

    def ingest(self, report: Report) -> bool:
        """Validate and store; returns True if this report_id was already stored."""
        return self.ingestion.ingest(report)

    def reject_malformed(self, report_id: str, silo_id: str, reason: str) -> None:
        self.ingestion.reject_malformed(report_id, silo_id, reason)

    def checkpoint(self) -> Checkpoint | None:
        """The newest signed checkpoint of the audit log, for an acknowledgement."""
        return self.checkpoints.current()

    def audit_heads(self, silo_id: str) -> list[ReceivedHead]:
        return self.heads.of(silo_id)

    def pending_commands(self, silo_id: str) -> list[CommandRecord]:
        return self.commands.pending(silo_id)

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        return self.commands.ack(command_id, silo_id, status, message)

    # -- gates and the model registry ---------------------------------------------
    def evaluate_central(
        self, model_id: str, model_version: str, group: str
    ) -> CentralDecisionRecord | None:
        return self.gates.evaluate_central(model_id, model_version, group)

    def list_models(self, model_id: str | None = None) -> list[ModelVersionRecord]:
        return self.registry.versions(model_id)

    def promote(
        self, model_id: str, version: str, *, reason: str, job_id: str | None = None
    ) -> str | None:
        return self.registry.promote(model_id, version, reason=reason, job_id=job_id)

    def rollback(self, model_id: str) -> str:
        return self.registry.rollback(model_id)

    # -- queries -------------------------------------------------------------------
    def query_drift(
        self,
        psi_threshold: float,
        *,
        since_ms: int = 0,
        model_id: str | None = None,
        jurisdiction_glob: str | None = None,
        silo_id: str | None = None,
    ) -> list[DriftRecord]:
        return self.queries.drift(
            psi_threshold,
            since_ms=since_ms,
            model_id=model_id,
            jurisdiction_glob=jurisdiction_glob,
            silo_id=silo_id,
        )

    def query_fairness(
        self,
        model_id: str,
        *,
        model_version: str | None = None,
        jurisdiction_glob: str | None = None,
        since_ms: int = 0,
    ) -> Fairness:
        return self.queries.fairness(
            model_id,
            model_version=model_version,
            jurisdiction_glob=jurisdiction_glob,
            since_ms=since_ms,
        )

    def query_decisions(
        self, jurisdiction_glob: str | None = None, silo_id: str | None = None
    ) -> list[DecisionRecord]:
        return self.queries.decisions(jurisdiction_glob, silo_id)

    def query_silos(
        self,
        *,
        stale_after_ms: int = 0,
        jurisdiction_glob: str | None = None,
        silo_id: str | None = None,
        now: int | None = None,
    ) -> list[SiloRecord]:
        return self.queries.silos(
            stale_after_ms=stale_after_ms,
            jurisdiction_glob=jurisdiction_glob,
            silo_id=silo_id,
            now=now,
        )

    def query_history(
        self,
        model_id: str,
        metric: str,
        *,
        feature: str | None = None,
        attribute: str | None = None,
        since_ms: int = 0,
        jurisdiction_glob: str | None = None,
        silo_id: str | None = None,
    ) -> list[MetricPoint]:
        return self.queries.history(
            model_id,
            metric,
            feature=feature,
            attribute=attribute,
            since_ms=since_ms,
            jurisdiction_glob=jurisdiction_glob,
            silo_id=silo_id,
        )

    def central_decisions(self, model_id: str | None = None) -> list[CentralDecisionRecord]:
        return self.queries.central_decisions(model_id)

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]:
        return self.queries.jobs(model_id)
