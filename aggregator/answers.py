"""The answers to the aggregator's queries: one typed, frozen shape per query kind.

The queries module answers fairness with :class:`Fairness`; the servicer
reads every other answer off its store record (``X.of(record)``).
:mod:`aggregator.query_serde` carries them over gRPC and back, and the CLI's
tables and ``--json`` both read them: a field's name is its ``--json`` key
(:func:`to_json`), so no layer renames anything.

:class:`DriftFilters` is the one question shape shared the same way: the
filters of a drift query, taken as keywords by both query clients (the
aggregator's and Prometheus').
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self, TypedDict, TypeVar

if TYPE_CHECKING:  # the CLI imports the answers without the server's machinery
    from aggregator import store

__all__ = [
    "Answer",
    "Approval",
    "CentralRow",
    "DecisionRow",
    "DriftFilters",
    "DriftRow",
    "Fairness",
    "HistoryPoint",
    "JobRow",
    "ModelVersion",
    "RowAnswer",
    "SiloRow",
    "to_json",
]

T = TypeVar("T")

# answer field -> where a store record keeps it, where the names differ
_RECORD = {
    "silo": "silo_id",
    "model": "model_id",
    "version": "model_version",
    "group": "jurisdiction_group",
} | {k: f"decision.{k}" for k in ("allow", "deny", "warn", "actions")}


def _of(kind: type[T], record: object, **computed: Any) -> T:
    """``kind`` read off a store record: by field name, renamed by ``_RECORD``."""

    def read(name: str) -> Any:
        if name in computed:
            return computed[name]
        value = record
        for part in _RECORD.get(name, name).split("."):
            value = getattr(value, part)
        return tuple(value) if isinstance(value, list) else value

    return kind(**{f.name: read(f.name) for f in dataclasses.fields(kind)})  # type: ignore[arg-type]


class _Row:
    """A row answer: read off its store record by field name (see ``_RECORD``)."""

    @classmethod
    def of(cls, record: Any) -> Self:
        return _of(cls, record)


class DriftFilters(TypedDict, total=False):
    """Which rows a drift query keeps; a filter left out keeps every row."""

    since_ms: int  # windows ending at or after this time (0: any)
    model_id: str  # one model ("": every model)
    jurisdiction_glob: str  # silos whose jurisdiction matches ("": every silo)


@dataclass(frozen=True)
class DriftRow(_Row):
    silo: str
    jurisdiction: str
    model: str
    version: str
    feature: str
    psi: float
    psi_pvalue: float | None
    window_end_ms: int
    report_id: str


@dataclass(frozen=True)
class Fairness:
    """A model's metrics merged across silos: ``sample_size``, ``drift`` and ``fairness``."""

    model: str
    version: str
    silos: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    rows: int
    reports: int
    metrics: dict[str, Any] = field(hash=False)
    source: str = "per-silo reports"  # or "exact, secure sum of N silos"; with privacy terms
    period: str = ""  # a secure sum's period
    spec_digest: str = ""
    report_ids: tuple[str, ...] = ()  # the per-silo reports merged (none for a secure sum)
    round_ids: tuple[str, ...] = ()  # the secure rounds summed (none for per-silo reports)
    # Figures release control withheld from a secure sum: {table, name, group, rows}.
    withheld: tuple[dict[str, Any], ...] = field(default=(), hash=False)


@dataclass(frozen=True)
class DecisionRow(_Row):
    silo: str
    jurisdiction: str
    model: str
    version: str
    allow: bool
    deny: tuple[str, ...]
    warn: tuple[str, ...]
    actions: tuple[str, ...]
    window_end_ms: int
    report_id: str


@dataclass(frozen=True)
class JobRow(_Row):
    job_id: str
    model: str
    version: str
    state: str
    reason: str
    created_ms: int
    silos: tuple[str, ...]
    acked_silos: tuple[str, ...]
    detail: str
    candidate_version: str

    @classmethod
    def of(cls, j: store.JobRecord) -> JobRow:
        acked = {c.silo_id for c in j.commands if c.status == "accepted"}
        silos = {c.silo_id for c in j.commands}
        return _of(cls, j, silos=tuple(sorted(silos)), acked_silos=tuple(sorted(acked)))


@dataclass(frozen=True)
class CentralRow(_Row):
    model: str
    version: str
    group: str
    silos: tuple[str, ...]
    rows: int
    allow: bool
    deny: tuple[str, ...]
    warn: tuple[str, ...]
    actions: tuple[str, ...]
    evaluated_ms: int
    source: str = ""


@dataclass(frozen=True)
class SiloRow(_Row):
    silo: str
    jurisdiction: str
    registered_ms: int
    last_seen_ms: int
    models: tuple[str, ...]  # "model/version"
    policy_bundle_digest: str

    @classmethod
    def of(cls, s: store.SiloRecord) -> SiloRow:
        return _of(cls, s, models=tuple(f"{m}/{v}" for m, v, _ in s.models))


@dataclass(frozen=True)
class HistoryPoint(_Row):
    silo: str
    jurisdiction: str
    version: str
    window_end_ms: int
    value: float | None  # None: the metric was not computable in that report
    report_id: str


@dataclass(frozen=True)
class ModelVersion(_Row):
    model: str
    version: str
    status: str
    created_ms: int
    spec_digest: str
    aliases: tuple[str, ...]
    lineage: dict[str, Any] = field(hash=False)
    artifact_bytes: int

    @classmethod
    def of(cls, m: store.ModelVersionRecord) -> ModelVersion:
        return _of(
            cls,
            m,
            version=m.version,
            lineage=dict(m.lineage),
            artifact_bytes=len(m.artifact or b""),
        )


@dataclass(frozen=True)
class Approval:
    """An operator's approval of a silo's jurisdiction (``fedgov silo approve``)."""

    silo: str
    jurisdiction: str
    previous: str | None  # the jurisdiction it replaced; None for a new silo
    approved_ms: int


RowAnswer = DriftRow | DecisionRow | JobRow | CentralRow | SiloRow | HistoryPoint | ModelVersion
Answer = RowAnswer | Fairness | Approval


def to_json(answer: Answer | dict[str, Any] | Sequence[Answer | dict[str, Any]]) -> Any:
    """What ``--json`` prints: the answer's fields by name (rows: a list of them).

    Plain dicts (rows from Prometheus, already in this shape) pass through.
    """
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, Sequence):
        return [to_json(a) for a in answer]
    return dataclasses.asdict(answer)
