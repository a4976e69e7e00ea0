"""The aggregator's answers as protobuf messages: one builder per record kind.

The servicer's only serde: each store record (or handler answer) becomes its
``fedgov.v1.aggregator`` message here, so no RPC builds a row itself. Fields
the message cannot leave unset (an optional number) are sent with a
``has_*`` flag.
"""

from __future__ import annotations

import json

from aggregator.queries import FairnessAnswer
from aggregator.store import (
    CentralDecisionRecord,
    CommandRecord,
    DecisionRecord,
    DriftRecord,
    JobRecord,
    MetricPoint,
    ModelVersionRecord,
    SiloRecord,
)
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.wire import decision_to_proto

__all__ = [
    "central_row",
    "command_to_proto",
    "decision_row",
    "drift_row",
    "fairness_response",
    "history_point",
    "job_row",
    "model_version_row",
    "silo_row",
]


def command_to_proto(c: CommandRecord) -> pb.Command:
    return pb.Command(
        command_id=c.command_id,
        kind=c.kind,
        job_id=c.job_id,
        model_id=c.model_id,
        model_version=c.model_version,
        reason=c.reason,
        created_unix_ms=c.created_ms,
        payload_json=c.payload,
    )


def drift_row(r: DriftRecord) -> pb.DriftRow:
    return pb.DriftRow(
        silo_id=r.silo_id,
        jurisdiction=r.jurisdiction,
        model_id=r.model_id,
        model_version=r.model_version,
        feature=r.feature,
        psi=r.psi,
        psi_pvalue=r.psi_pvalue or 0.0,
        has_pvalue=r.psi_pvalue is not None,
        window_end_unix_ms=r.window_end_ms,
        report_id=r.report_id,
    )


def fairness_response(ans: FairnessAnswer) -> pb.FairnessQueryResponse:
    return pb.FairnessQueryResponse(
        model_id=ans.model_id,
        model_version=ans.model_version,
        silos=list(ans.silos),
        jurisdictions=list(ans.jurisdictions),
        rows=ans.rows,
        reports=ans.reports,
        metrics_json=json.dumps(ans.metrics, sort_keys=True),
    )


def decision_row(r: DecisionRecord) -> pb.DecisionRow:
    return pb.DecisionRow(
        silo_id=r.silo_id,
        jurisdiction=r.jurisdiction,
        model_id=r.model_id,
        model_version=r.model_version,
        decision=decision_to_proto(r.decision),
        window_end_unix_ms=r.window_end_ms,
        report_id=r.report_id,
    )


def job_row(j: JobRecord) -> pb.JobRow:
    return pb.JobRow(
        job_id=j.job_id,
        model_id=j.model_id,
        model_version=j.model_version,
        state=j.state,
        reason=j.reason,
        created_unix_ms=j.created_ms,
        silos=sorted({c.silo_id for c in j.commands}),
        acked_silos=sorted({c.silo_id for c in j.commands if c.status == "accepted"}),
        detail=j.detail,
        candidate_version=j.candidate_version,
    )


def central_row(r: CentralDecisionRecord) -> pb.CentralRow:
    return pb.CentralRow(
        model_id=r.model_id,
        model_version=r.model_version,
        jurisdiction_group=r.jurisdiction_group,
        evaluated_unix_ms=r.evaluated_ms,
        silos=list(r.silos),
        rows=r.rows,
        decision=decision_to_proto(r.decision),
    )


def silo_row(s: SiloRecord) -> pb.SiloRow:
    return pb.SiloRow(
        silo_id=s.silo_id,
        jurisdiction=s.jurisdiction,
        registered_unix_ms=s.registered_ms,
        last_seen_unix_ms=s.last_seen_ms,
        models=[f"{m}/{v}" for m, v, _ in s.models],
        policy_bundle_digest=s.policy_bundle_digest,
    )


def history_point(p: MetricPoint) -> pb.HistoryPoint:
    return pb.HistoryPoint(
        silo_id=p.silo_id,
        jurisdiction=p.jurisdiction,
        model_version=p.model_version,
        window_end_unix_ms=p.window_end_ms,
        value=p.value if p.value is not None else 0.0,
        has_value=p.value is not None,
        report_id=p.report_id,
    )


def model_version_row(m: ModelVersionRecord) -> pb.ModelVersionRow:
    return pb.ModelVersionRow(
        model_id=m.model_id,
        version=m.version,
        status=m.status,
        created_unix_ms=m.created_ms,
        spec_digest=m.spec_digest,
        aliases=list(m.aliases),
        lineage_json=json.dumps(m.lineage, sort_keys=True),
        artifact_bytes=len(m.artifact or b""),
    )
