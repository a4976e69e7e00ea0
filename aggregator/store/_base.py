"""The store interface: what the aggregator keeps, independent of the database.

Backends implement :class:`Store`; :func:`aggregator.store.create_store`
picks one from a URL. Rows come back as small frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aggregator.store._round_records import ReleaseRecord, RoundRecord
from fedgov.anchors import ReceivedHead
from fedgov.checkpoints import Checkpoint
from fedgov.decision import Decision
from fedgov.report import Report, ReportLink

if TYPE_CHECKING:
    from aggregator.store._listen import CommandListener

__all__ = [
    "ENDED_JOB_STATES",
    "JOB_TRANSITIONS",
    "OPEN_JOB_STATES",
    "InvalidTransition",
    "ModelVersionRecord",
    "check_transition",
    "CentralDecisionRecord",
    "CommandRecord",
    "DecisionRecord",
    "DriftRecord",
    "JobRecord",
    "MetricPoint",
    "ReportRef",
    "SiloRecord",
    "Store",
    "metric_at",
]


# A job in one of these states absorbs new retrain triggers for its model.
OPEN_JOB_STATES = ("pending", "dispatched", "training", "evaluating")
ENDED_JOB_STATES = ("promoted", "rejected", "failed")

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

    def serves(self, model_id: str, version: str | None = None) -> bool:
        """Whether the silo registered the model (that version of it, if given)."""
        return any(m == model_id and version in (None, v) for m, v, _ in self.models)


@dataclass(frozen=True)
class SiloApproval:
    """An operator's approval of a silo's jurisdiction; ``previous`` is what it replaced
    (the registered jurisdiction, else the earlier approval; None for a new silo)."""

    silo_id: str
    jurisdiction: str
    previous: str | None
    approved_ms: int


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
class ReportRef:
    """Where a stored report sits, read from its columns without decoding it.

    :class:`DecisionRecord` and :class:`MetricPoint` are this plus one value.
    """

    report_id: str
    silo_id: str
    jurisdiction: str
    model_id: str
    model_version: str
    window_end_ms: int


@dataclass(frozen=True)
class DecisionRecord(ReportRef):
    """A report's local decision, read without decoding its statistics or metrics."""

    decision: Decision


@dataclass(frozen=True)
class MetricPoint(ReportRef):
    """One report's value of one metric (None: not in the report, or not a number)."""

    value: float | None


def metric_at(metrics: Mapping[str, Any], path: Sequence[str]) -> float | None:
    """The number at ``path`` in a report's metrics, as a float; None if absent or no number.

    ``("drift", "features", "age", "psi")`` is one feature's PSI; a step into
    anything but an object, a missing key, and a value that is not a number
    (booleans, strings, null) all give None. The stores read history values
    with SQLite's JSON functions instead (``_metrics.metric_values``), which
    must agree with this function; the shared store tests hold them to it.
    """
    node: Any = metrics
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    return None


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
    source: str = ""  # "" merged per-silo reports; "secure" a released secure sum


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

    def approve_silo(
        self, silo_id: str, jurisdiction: str, *, approved_by: str, reason: str
    ) -> SiloApproval:
        """Record the jurisdiction of ``silo_id``; a registered silo moves to it at once."""

    def approved_jurisdiction(self, silo_id: str) -> str | None: ...

    def get_spec_json(self, spec_digest: str) -> str | None: ...

    def add_report(self, report: Report) -> bool:
        """Store a report once; False if its report_id is already stored. Its audit head,
        if any, is kept in the same transaction, for a duplicate too."""

    def add_reports(self, reports: Sequence[Report]) -> list[bool]:
        """:meth:`add_report` of each in one transaction (False: stored before, or earlier)."""

    def get_report(self, report_id: str) -> Report | None: ...

    def get_reports(self, report_ids: Sequence[str]) -> dict[str, Report]:
        """The stored reports among these ids, by id, read at once (one round trip)."""
        ...

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

    def latest_report_refs(self, model_id: str, model_version: str | None) -> list[ReportRef]:
        """Which report is the newest of each (silo, version) of a model; nothing decoded.

        The same reports, in the same order (silo, then version), as
        ``reports_for_model(model_id, model_version, latest_only=True)``; a
        version of None (or "") means every version.
        """
        ...

    def latest_decisions(self) -> list[DecisionRecord]:
        """The decision of the newest report of every (silo, model, version).

        The same reports, in the same order, as :meth:`latest_reports`.
        """
        ...

    def metric_history(
        self, model_id: str, path: Sequence[str], *, since_ms: int = 0
    ) -> list[MetricPoint]:
        """The value at ``path`` (see :func:`metric_at`) in every report of a model, all versions.

        Oldest first: by window end, then silo, then version, then the order
        stored. ``since_ms`` keeps windows ending at or after it. Reads the
        (model, window end) index and the metrics only, never the statistics.
        """
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

    def silos_with_pending_commands(self) -> set[str]:
        """Every silo with a command not acknowledged yet (one read for all streams)."""
        ...

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> bool: ...

    def list_jobs(self, model_id: str | None = None) -> list[JobRecord]: ...

    def ended_jobs(self, model_id: str, model_version: str) -> list[JobRecord]:
        """The version's ended jobs, least recently updated first, without their commands
        (one statement: the retrain trigger asks at every report of a failing gate)."""
        ...

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

    # -- audit anchors (append-only, see aggregator.store._audit) ------------------
    def audit_heads(self, silo_id: str) -> list[ReceivedHead]:
        """Every audit head the silo's reports carried, by seq, then as received."""
        ...

    def conflicting_heads(self, silo_id: str, seq: int, digest: str) -> list[ReceivedHead]:
        """The silo's stored heads of record ``seq`` that name a hash other than ``digest``."""
        ...

    def add_checkpoint(self, cp: Checkpoint) -> Checkpoint | None:
        """Keep a checkpoint; None if kept, else the one kept before for its key and seq."""
        ...

    def checkpoints(self, key_id: str | None = None) -> list[Checkpoint]: ...

    def latest_checkpoint(self, key_id: str) -> Checkpoint | None: ...

    # -- secure aggregation rounds (see aggregator.store._rounds) -------------------
    def open_round(
        self, rec: RoundRecord, silos: Sequence[str], payload: str
    ) -> tuple[RoundRecord, bool]: ...
    def get_round(self, round_id: str) -> RoundRecord | None: ...
    def list_rounds(self, model_id: str = "", *, status: str = "") -> list[RoundRecord]: ...
    def add_round_message(self, round_id: str, stage: int, silo_id: str, data: bytes) -> bool: ...
    def round_messages(self, round_id: str, stage: int) -> dict[str, bytes]: ...
    def round_senders(self, round_id: str, stage: int) -> set[str]: ...
    def advance_round(
        self, round_id: str, stage: int, deadline_ms: int, *,
        survivors: Sequence[str] = (), dropped: Sequence[str] = (),
    ) -> bool: ...  # fmt: skip
    def claim_round(
        self, round_id: str, deadline_ms: int, new_deadline_ms: int, reason: str | None = None
    ) -> bool: ...
    def end_round(
        self, round_id: str, status: str, reason: str, releases: Sequence[ReleaseRecord] = ()
    ) -> bool: ...
    def period_specs(self, model_id: str, start_ms: int, end_ms: int) -> list[tuple[str, str]]: ...
    def releases(self, model_id: str = "", model_version: str = "") -> list[ReleaseRecord]: ...

    def claim_key(self, key_id: str, replica: str) -> str: ...
    def command_listener(
        self, on_silos: Callable[[Iterable[str]], object], on_connect: Callable[[], object],
        *, name: str, url: str | None = None,
    ) -> CommandListener | None: ...  # fmt: skip
    def close(self) -> None: ...
