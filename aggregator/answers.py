"""The answers to the aggregator's queries: one typed, frozen shape per query kind.

The servicer builds them from store records (``X.of(record)``),
:mod:`aggregator.query_serde` carries them over gRPC and back, and the CLI's
tables and ``--json`` both read them: a field's name is its ``--json`` key
(:func:`to_json`), so no layer renames anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports the answers without the server's machinery
    from aggregator.queries import FairnessAnswer
    from aggregator.store import (
        CentralDecisionRecord,
        DecisionRecord,
        DriftRecord,
        JobRecord,
        MetricPoint,
        ModelVersionRecord,
        SiloRecord,
    )

__all__ = [
    "Answer",
    "CentralRow",
    "DecisionRow",
    "DriftRow",
    "Fairness",
    "HistoryPoint",
    "JobRow",
    "ModelVersion",
    "SiloRow",
    "to_json",
]


@dataclass(frozen=True)
class DriftRow:
    silo: str
    jurisdiction: str
    model: str
    version: str
    feature: str
    psi: float
    psi_pvalue: float | None
    window_end_ms: int
    report_id: str

    @classmethod
    def of(cls, r: DriftRecord) -> DriftRow:
        return cls(
            r.silo_id,
            r.jurisdiction,
            r.model_id,
            r.model_version,
            r.feature,
            r.psi,
            r.psi_pvalue,
            r.window_end_ms,
            r.report_id,
        )


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

    @classmethod
    def of(cls, a: FairnessAnswer) -> Fairness:
        return cls(
            a.model_id, a.model_version, a.silos, a.jurisdictions, a.rows, a.reports, a.metrics
        )


@dataclass(frozen=True)
class DecisionRow:
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

    @classmethod
    def of(cls, r: DecisionRecord) -> DecisionRow:
        d = r.decision
        return cls(
            r.silo_id,
            r.jurisdiction,
            r.model_id,
            r.model_version,
            d.allow,
            d.deny,
            d.warn,
            d.actions,
            r.window_end_ms,
            r.report_id,
        )


@dataclass(frozen=True)
class JobRow:
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
    def of(cls, j: JobRecord) -> JobRow:
        acked = (c.silo_id for c in j.commands if c.status == "accepted")
        return cls(
            j.job_id,
            j.model_id,
            j.model_version,
            j.state,
            j.reason,
            j.created_ms,
            tuple(sorted({c.silo_id for c in j.commands})),
            tuple(sorted(set(acked))),
            j.detail,
            j.candidate_version,
        )


@dataclass(frozen=True)
class CentralRow:
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

    @classmethod
    def of(cls, r: CentralDecisionRecord) -> CentralRow:
        d = r.decision
        return cls(
            r.model_id,
            r.model_version,
            r.jurisdiction_group,
            tuple(r.silos),
            r.rows,
            d.allow,
            d.deny,
            d.warn,
            d.actions,
            r.evaluated_ms,
        )


@dataclass(frozen=True)
class SiloRow:
    silo: str
    jurisdiction: str
    registered_ms: int
    last_seen_ms: int
    models: tuple[str, ...]  # "model/version"
    policy_bundle_digest: str

    @classmethod
    def of(cls, s: SiloRecord) -> SiloRow:
        models = tuple(f"{m}/{v}" for m, v, _ in s.models)
        return cls(
            s.silo_id,
            s.jurisdiction,
            s.registered_ms,
            s.last_seen_ms,
            models,
            s.policy_bundle_digest,
        )


@dataclass(frozen=True)
class HistoryPoint:
    silo: str
    jurisdiction: str
    version: str
    window_end_ms: int
    value: float | None  # None: the metric was not computable in that report
    report_id: str

    @classmethod
    def of(cls, p: MetricPoint) -> HistoryPoint:
        return cls(
            p.silo_id, p.jurisdiction, p.model_version, p.window_end_ms, p.value, p.report_id
        )


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: str
    status: str
    created_ms: int
    spec_digest: str
    aliases: tuple[str, ...]
    lineage: dict[str, Any] = field(hash=False)
    artifact_bytes: int

    @classmethod
    def of(cls, m: ModelVersionRecord) -> ModelVersion:
        return cls(
            m.model_id,
            m.version,
            m.status,
            m.created_ms,
            m.spec_digest,
            tuple(m.aliases),
            dict(m.lineage),
            len(m.artifact or b""),
        )


Answer = (
    DriftRow | Fairness | DecisionRow | JobRow | CentralRow | SiloRow | HistoryPoint | ModelVersion
)


def to_json(answer: Answer | dict[str, Any] | Sequence[Answer | dict[str, Any]]) -> Any:
    """What ``--json`` prints: the answer's fields by name (rows: a list of them).

    Plain dicts (rows from Prometheus, already in this shape) pass through.
    """
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, Sequence):
        return [to_json(a) for a in answer]
    return dataclasses.asdict(answer)
