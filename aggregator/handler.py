"""What the aggregator does, independent of gRPC: the parts, put together.

:class:`AggregatorHandler` is a facade: it builds the parts (registration,
ingest, gates, jobs, model registry, commands, queries, audit anchors) on one store, command
hub, central gate and audit log, and keeps the method names the servicer,
the CLI and the tests call. Those names are the parts' own methods, reached
through the handler (``handler.query_drift`` is ``handler.queries.drift``),
so the work and its signature are written once, in the parts' modules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from aggregator._audit import AuditSink
from aggregator.anchors import Checkpoints, SiloHeads
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
from aggregator.secure_rounds import SecureRounds
from aggregator.silo_commands import CommandHub, Commands
from aggregator.specs import SpecCache
from aggregator.store import Store
from fedgov.audit import AuditLog
from fedgov.checkpoints import CheckpointKey

__all__ = ["AggregatorHandler", "ModelRegistration"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class _Part(Generic[T]):
    """An attribute of the handler that reads ``part.name``: the part owns it.

    Read-only (a non-data descriptor), so a test may still set the handler's own.
    """

    def __init__(self, part: str, name: str) -> None:
        self._part = part
        self._name = name

    @overload
    def __get__(self, handler: None, owner: type) -> Self: ...
    @overload
    def __get__(self, handler: object, owner: type) -> T: ...
    def __get__(self, handler: object, owner: type) -> T | Self:
        if handler is None:
            return self
        value: T = getattr(getattr(handler, self._part), self._name)
        return value


class _Forwarded(_Part[T]):
    """A setting of the handler that reads and writes ``part.name``."""

    def __set__(self, handler: object, value: T) -> None:
        setattr(getattr(handler, self._part), self._name, value)


def _calls(part: str, method: Callable[Concatenate[Any, P], R]) -> _Part[Callable[P, R]]:
    """The handler's method that is ``method`` of its ``part``: same arguments, same answer."""
    return _Part(part, method.__name__)


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
        self.rounds = SecureRounds(store, self.specs, self.hub, self._audit)
        self.rounds.on_release = self.gates.evaluate_release
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

    # -- what the servicer, the CLI and the tests call: the parts' own methods -------
    def record_denied(self, peer: str | None, claimed: str, what: str) -> None:
        log.warning("%s may not act as %s (%s)", peer or "a caller", claimed, what)
        self._audit("identity_denied", peer=peer, claimed=claimed, call=what)

    def approved_jurisdiction(self, silo_id: str) -> str | None:
        return self.store.approved_jurisdiction(silo_id)

    def audit_together(self) -> AbstractContextManager[None]:
        """This thread's audit records inside the block are appended at its end, at once."""
        return self._audit.together()

    register = _calls("registration", Registration.register)
    ingest = _calls("ingestion", Ingest.ingest)
    ingest_many = _calls("ingestion", Ingest.ingest_many)
    reject_malformed = _calls("ingestion", Ingest.reject_malformed)
    pending_commands = _calls("commands", Commands.pending)
    ack_command = _calls("commands", Commands.ack)
    evaluate_central = _calls("gates", Gates.evaluate_central)
    list_models = _calls("registry", ModelRegistry.versions)
    promote = _calls("registry", ModelRegistry.promote)
    rollback = _calls("registry", ModelRegistry.rollback)
    query_drift = _calls("queries", Queries.drift)
    query_fairness = _calls("queries", Queries.fairness)
    query_decisions = _calls("queries", Queries.decisions)
    query_silos = _calls("queries", Queries.silos)
    query_history = _calls("queries", Queries.history)
    central_decisions = _calls("queries", Queries.central_decisions)
    list_jobs = _calls("queries", Queries.jobs)
    approve_silo = _calls("registration", Registration.approve)
    checkpoint = _calls("checkpoints", Checkpoints.current)  # the newest, for an ack
    audit_heads = _calls("heads", SiloHeads.of)
