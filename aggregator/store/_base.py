"""The store interface: what the aggregator keeps, independent of the database.

Backends implement :class:`Store`; :func:`aggregator.store.create_store`
picks one from a URL. Rows come back as small frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fedgov.policy import Decision
from fedgov.report import Report, ReportLink

__all__ = [
    "JOB_TRANSITIONS",
    "OPEN_JOB_STATES",
    "InvalidTransition",
    "ModelVersionRecord",
    "check_transition",
    "CentralDecisionRecord",
    "CommandRecord",
    "DriftRecord",
    "JobRecord",
    "SiloRecord",
    "Store",
]


# A job in one of these states absorbs new retrain triggers for its model.
OPEN_JOB_STATES = ("pending", "dispatched", "training", "evaluating")

# The retraining state machine: pending -> dispatched -> training -> evaluating
# -> promoted | rejected, and any open state may fail.
JOB_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"dispatched", "failed"}),
    "dispatched": frozenset({"training", "failed"}),
    "training": frozenset({"evaluating", "failed"}),
    "evaluating": frozenset({"promoted", "rejected", "failed"}),
}


class InvalidTransition(ValueError):
    """A job was asked to move along an edge the state machine does not have."""


def check_transition(job_id: str, current: str, target: str) -> None:
    if target not in JOB_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(
            f"job {job_id}: cannot go from {current!r} to {target!r}; allowed: "
            f"{sorted(JOB_TRANSITIONS.get(current, ())) or 'none (final state)'}"
        )


@dataclass(frozen=True)
class ModelVersionRecord:
    """A version in the model registry, with its lineage and (small) artifact."""

    model_id: str
    version: str
    status: str  # candidate | promoted | rejected | retired
    created_ms: int
    spec_digest: str
    lineage: dict[str, Any] = field(default_factory=dict)
    artifact: bytes | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiloRecord:
    silo_id: str
    jurisdiction: str
    policy_bundle_digest: str
    registered_ms: int
    last_seen_ms: int
    models: tuple[tuple[str, str, str], ...] = ()  # (model_id, version, spec_digest)


@dataclass(frozen=True)
class DriftRecord:
    report_id: str
    silo_id: str
    jurisdiction: str
    model_id: str
    model_version: str
    feature: str
    psi: float
    psi_pvalue: float | None
    window_end_ms: int


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    job_id: str
    silo_id: str
    kind: str
    model_id: str
    model_version: str
    reason: str
    created_ms: int
    status: str = "pending"  # pending | accepted | rejected
    payload: str = ""  # JSON for the command kind (e.g. a candidate's weights to evaluate)


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    model_id: str
    model_version: str
    state: str
    reason: str
    created_ms: int
    updated_ms: int
    detail: str = ""
    candidate_version: str = ""
    commands: tuple[CommandRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CentralDecisionRecord:
    """A central policy's decision over merged metrics of one jurisdiction group."""

    model_id: str
    model_version: str
    jurisdiction_group: str
    evaluated_ms: int
    silos: tuple[str, ...]
    rows: int
    decision: Decision


class Store(Protocol):
    """Durable state of the aggregator. Every write is committed before it returns."""

    def register_silo(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[tuple[str, str, str, str]],  # (model_id, version, digest, spec_json)
    ) -> None: ...

    def get_silo(self, silo_id: str) -> SiloRecord | None: ...

    def list_silos(self) -> list[SiloRecord]: ...

    def get_spec_json(self, spec_digest: str) -> str | None: ...

    def add_report(self, report: Report) -> bool:
        """Store a report once; False if its report_id is already stored."""
        ...

    def get_report(self, report_id: str) -> Report | None: ...

    def count_reports(self) -> int: ...

    def reports_for_model(
        self, model_id: str, model_version: str | None, *, since_ms: int = 0, latest_only: bool
    ) -> list[Report]: ...

    def latest_report(self, silo_id: str, model_id: str, model_version: str) -> Report | None:
        """The newest report (by window end) of one silo for one model version."""
        ...

    def latest_report_id(self, silo_id: str, model_id: str, model_version: str) -> str | None:
        """The id of :meth:`latest_report`, read without its payload."""
        ...

    def latest_link(self, silo_id: str, model_id: str, model_version: str) -> ReportLink | None:
        """The chain link of :meth:`latest_report`, read without decoding its statistics."""
        ...

    def latest_reports(self) -> list[Report]:
        """The newest report of every (silo, model, version)."""
        ...

    def drift_above(
        self, psi_threshold: float, *, since_ms: int = 0, model_id: str | None = None
    ) -> list[DriftRecord]: ...

    def open_job(
        self, model_id: str, model_version: str, reason: str, silos: Sequence[str]
    ) -> tuple[JobRecord, bool]:
        """Open a retraining job, or attach to the one in flight (created=False)."""
        ...

    def pending_commands(self, silo_id: str) -> list[CommandRecord]: ...

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool: ...

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]: ...

    def transition_job(
        self, job_id: str, state: str, *, detail: str = "", candidate_version: str | None = None
    ) -> JobRecord:
        """Move a job along the state machine (InvalidTransition otherwise)."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def add_commands(
        self, job_id: str, kind: str, silos: Sequence[str], reason: str, payload: str = ""
    ) -> list[CommandRecord]: ...

    def add_model_version(self, rec: ModelVersionRecord) -> None: ...

    def get_model_version(self, model_id: str, version: str) -> ModelVersionRecord | None: ...

    def list_model_versions(self, model_id: str | None = None) -> list[ModelVersionRecord]: ...

    def set_model_status(self, model_id: str, version: str, status: str) -> None: ...

    def set_alias(self, model_id: str, alias: str, version: str) -> str | None:
        """Point an alias at a version; returns the version it pointed at before."""
        ...

    def resolve_alias(self, model_id: str, alias: str) -> str | None: ...

    def alias_history(self, model_id: str, alias: str) -> list[tuple[str, int]]:
        """(version, set_ms) newest first: what rollback walks back through."""
        ...

    def add_central_decision(self, rec: CentralDecisionRecord) -> None: ...

    def latest_central_decisions(self) -> list[CentralDecisionRecord]: ...

    def close(self) -> None: ...
