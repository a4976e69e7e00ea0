"""The gRPC servicer: translate messages, call the handler, translate errors.

Every call first bounds its request's identifiers, globs and times
(:func:`fedgov.wire.check_request`), so nothing below sees a 100,000-character
model id or a time in the year 300,000,000; errors leave through
:mod:`aggregator._status` only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence

import grpc
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

from aggregator._status import abort_status, abort_with
from aggregator.handler import AggregatorHandler, ModelRegistration
from aggregator.metrics import AggregatorMetrics
from aggregator.store import CommandRecord
from fedgov import __version__
from fedgov.tls import peer_identity
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc
from fedgov.wire import check_request, decision_to_proto, report_from_proto

__all__ = ["AggregatorServicer"]

log = logging.getLogger(__name__)


def _command_to_proto(c: CommandRecord) -> pb.Command:
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


class AggregatorServicer(aggregator_pb2_grpc.AggregatorServicer):
    def __init__(
        self,
        handler: AggregatorHandler,
        *,
        require_identity: bool = False,
        metrics: AggregatorMetrics | None = None,
    ) -> None:
        self.handler = handler
        self.require_identity = require_identity
        self.metrics = metrics or AggregatorMetrics(CollectorRegistry())

    def _check(
        self,
        request: Message,
        context: grpc.ServicerContext,
        what: str,
        *,
        nested: Sequence[tuple[str, Message]] = (),
    ) -> None:
        """INVALID_ARGUMENT naming the field if an identifier, glob or time is out of bounds;
        ``nested`` are (where, sub-message) pairs checked the same way."""
        try:
            check_request(request)
            for where, message in nested:
                check_request(message, where)
        except Exception as exc:  # noqa: BLE001 - translated in one place
            abort_with(context, exc, what)

    def _authorize(self, context: grpc.ServicerContext, silo_id: str, what: str) -> None:
        """Under mTLS a caller acts only as the silo its certificate names."""
        if not self.require_identity:
            return
        peer = peer_identity(context)
        if peer != silo_id:
            self.metrics.denied.inc()
            self.handler.record_denied(peer, silo_id, what)
            abort_status(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{what}: the client certificate identifies {peer!r}, not silo {silo_id!r}",
            )

    def Register(
        self, request: pb.RegisterRequest, context: grpc.ServicerContext
    ) -> pb.RegisterResponse:
        models = [(f"models[{i}]", m) for i, m in enumerate(request.models)]
        self._check(request, context, "register", nested=models)
        self._authorize(context, request.silo_id, "register")
        try:
            self.handler.register(
                request.silo_id,
                request.jurisdiction,
                request.policy_bundle_digest,
                [
                    ModelRegistration(m.model_id, m.model_version, m.spec_digest, m.spec_json)
                    for m in request.models
                ],
            )
        except Exception as exc:  # noqa: BLE001 - translated in one place
            abort_with(context, exc, f"register {request.silo_id!r}")
        return pb.RegisterResponse(aggregator_version=__version__)

    def SubmitReport(
        self, request: pb.SubmitReportRequest, context: grpc.ServicerContext
    ) -> pb.ReportAck:
        started = time.perf_counter()
        rid = request.report.report_id
        self._authorize(context, request.report.silo_id, f"report {rid!r}")
        try:
            report = report_from_proto(request.report)
        except Exception as exc:  # noqa: BLE001
            self.metrics.reports.labels("rejected").inc()
            self.handler.reject_malformed(rid, request.report.silo_id, str(exc))
            abort_with(context, exc, f"report {rid!r}")
        try:
            duplicate = self.handler.ingest(report)
        except Exception as exc:  # noqa: BLE001
            self.metrics.reports.labels("rejected").inc()
            abort_with(context, exc, f"report {rid!r}")
        self.metrics.reports.labels("duplicate" if duplicate else "accepted").inc()
        if not duplicate:
            self.metrics.last_report.labels(report.silo_id).set_to_current_time()
        self.metrics.ingest_seconds.observe(time.perf_counter() - started)
        return pb.ReportAck(report_id=rid, duplicate=duplicate)

    def StreamCommands(
        self, request: pb.StreamCommandsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.Command]:
        self._check(request, context, "command stream")
        silo = request.silo_id
        self._authorize(context, silo, "command stream")
        hub = self.handler.hub
        # A cancelled or finished stream wakes its waiter instead of sleeping on.
        context.add_callback(hub.wake_all)
        sent: set[str] = set()
        seen = hub.version(silo)
        log.info("command stream opened by %s", silo)
        self.metrics.open_streams.inc()
        context.add_callback(self.metrics.open_streams.dec)
        while context.is_active() and not hub.closed:
            try:
                pending = self.handler.pending_commands(silo)
            except Exception as exc:  # noqa: BLE001
                abort_with(context, exc, f"command stream for {silo!r}")
            for cmd in pending:
                if cmd.command_id not in sent:
                    sent.add(cmd.command_id)
                    yield _command_to_proto(cmd)
            # The timeout only bounds how long a dead peer holds a thread.
            seen = hub.wait(silo, seen, timeout=30.0)
        log.info("command stream for %s closed", silo)

    def AckCommand(
        self, request: pb.CommandAck, context: grpc.ServicerContext
    ) -> pb.CommandAckResponse:
        self._check(request, context, "command ack")
        self._authorize(context, request.silo_id, f"ack of command {request.command_id!r}")
        try:
            self.handler.ack_command(
                request.command_id, request.silo_id, request.status, request.message
            )
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, f"ack of command {request.command_id!r}")
        return pb.CommandAckResponse()

    def QueryDrift(
        self, request: pb.DriftQuery, context: grpc.ServicerContext
    ) -> pb.DriftQueryResponse:
        self._check(request, context, "drift query")
        try:
            rows = self.handler.query_drift(
                request.psi_threshold,
                since_ms=request.since_unix_ms,
                model_id=request.model_id,
                jurisdiction_glob=request.jurisdiction_glob,
            )
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "drift query")
        return pb.DriftQueryResponse(
            rows=[
                pb.DriftRow(
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
                for r in rows
            ]
        )

    def QueryFairness(
        self, request: pb.FairnessQuery, context: grpc.ServicerContext
    ) -> pb.FairnessQueryResponse:
        self._check(request, context, "fairness query")
        try:
            ans = self.handler.query_fairness(
                request.model_id,
                model_version=request.model_version,
                jurisdiction_glob=request.jurisdiction_glob,
                since_ms=request.since_unix_ms,
            )
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "fairness query")
        return pb.FairnessQueryResponse(
            model_id=ans.model_id,
            model_version=ans.model_version,
            silos=list(ans.silos),
            jurisdictions=list(ans.jurisdictions),
            rows=ans.rows,
            reports=ans.reports,
            metrics_json=json.dumps(ans.metrics, sort_keys=True),
        )

    def QueryDecisions(
        self, request: pb.DecisionsQuery, context: grpc.ServicerContext
    ) -> pb.DecisionsQueryResponse:
        self._check(request, context, "decisions query")
        try:
            reports = self.handler.query_decisions(request.jurisdiction_glob)
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "decisions query")
        return pb.DecisionsQueryResponse(
            rows=[
                pb.DecisionRow(
                    silo_id=r.silo_id,
                    jurisdiction=r.jurisdiction,
                    model_id=r.model_id,
                    model_version=r.model_version,
                    decision=decision_to_proto(r.decision),
                    window_end_unix_ms=r.window_end_ms,
                    report_id=r.report_id,
                )
                for r in reports
            ]
        )

    def ListJobs(
        self, request: pb.JobsQuery, context: grpc.ServicerContext
    ) -> pb.JobsQueryResponse:
        self._check(request, context, "jobs query")
        try:
            jobs = self.handler.list_jobs(request.model_id)
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "jobs query")
        return pb.JobsQueryResponse(
            rows=[
                pb.JobRow(
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
                for j in jobs
            ]
        )

    def QueryCentral(
        self, request: pb.CentralQuery, context: grpc.ServicerContext
    ) -> pb.CentralQueryResponse:
        self._check(request, context, "central query")
        try:
            recs = self.handler.central_decisions()
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "central query")
        return pb.CentralQueryResponse(
            rows=[
                pb.CentralRow(
                    model_id=r.model_id,
                    model_version=r.model_version,
                    jurisdiction_group=r.jurisdiction_group,
                    evaluated_unix_ms=r.evaluated_ms,
                    silos=list(r.silos),
                    rows=r.rows,
                    decision=decision_to_proto(r.decision),
                )
                for r in recs
                if not request.model_id or r.model_id == request.model_id
            ]
        )

    def QuerySilos(
        self, request: pb.SilosQuery, context: grpc.ServicerContext
    ) -> pb.SilosQueryResponse:
        self._check(request, context, "silos query")
        try:
            silos = self.handler.query_silos(
                stale_after_ms=request.stale_after_ms,
                jurisdiction_glob=request.jurisdiction_glob,
            )
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "silos query")
        return pb.SilosQueryResponse(
            rows=[
                pb.SiloRow(
                    silo_id=s.silo_id,
                    jurisdiction=s.jurisdiction,
                    registered_unix_ms=s.registered_ms,
                    last_seen_unix_ms=s.last_seen_ms,
                    models=[f"{m}/{v}" for m, v, _ in s.models],
                    policy_bundle_digest=s.policy_bundle_digest,
                )
                for s in silos
            ]
        )

    def QueryHistory(
        self, request: pb.HistoryQuery, context: grpc.ServicerContext
    ) -> pb.HistoryQueryResponse:
        self._check(request, context, "history query")
        try:
            points = self.handler.query_history(
                request.model_id,
                request.metric,
                feature=request.feature or None,
                attribute=request.attribute or None,
                since_ms=request.since_unix_ms,
                jurisdiction_glob=request.jurisdiction_glob,
            )
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "history query")
        return pb.HistoryQueryResponse(
            points=[
                pb.HistoryPoint(
                    silo_id=p.silo_id,
                    jurisdiction=p.jurisdiction,
                    model_version=p.model_version,
                    window_end_unix_ms=p.window_end_ms,
                    value=p.value if p.value is not None else 0.0,
                    has_value=p.value is not None,
                    report_id=p.report_id,
                )
                for p in points
            ]
        )

    # -- model registry ------------------------------------------------------------
    def _operator_only(self, context: grpc.ServicerContext, what: str) -> None:
        if self.require_identity and peer_identity(context) != "operator":
            self.metrics.denied.inc()
            self.handler.record_denied(peer_identity(context), "operator", what)
            abort_status(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{what}: only the operator identity may do this",
            )

    def _models(self, model_id: str) -> pb.ModelsResponse:
        return pb.ModelsResponse(
            rows=[
                pb.ModelVersionRow(
                    model_id=m.model_id,
                    version=m.version,
                    status=m.status,
                    created_unix_ms=m.created_ms,
                    spec_digest=m.spec_digest,
                    aliases=list(m.aliases),
                    lineage_json=json.dumps(m.lineage, sort_keys=True),
                    artifact_bytes=len(m.artifact or b""),
                )
                for m in self.handler.store.list_model_versions(model_id or None)
            ]
        )

    def ListModels(
        self, request: pb.ModelsQuery, context: grpc.ServicerContext
    ) -> pb.ModelsResponse:
        self._check(request, context, "models query")
        try:
            return self._models(request.model_id)
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, "models query")

    def PromoteModel(
        self, request: pb.PromoteRequest, context: grpc.ServicerContext
    ) -> pb.ModelsResponse:
        self._check(request, context, "promote")
        self._operator_only(context, "promote")
        try:
            self.handler.promote(
                request.model_id, request.version, reason=request.reason or "operator promotion"
            )
            return self._models(request.model_id)
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, f"promote {request.model_id}/{request.version}")

    def RollbackModel(
        self, request: pb.RollbackRequest, context: grpc.ServicerContext
    ) -> pb.ModelsResponse:
        self._check(request, context, "rollback")
        self._operator_only(context, "rollback")
        try:
            self.handler.rollback(request.model_id)
            return self._models(request.model_id)
        except Exception as exc:  # noqa: BLE001
            abort_with(context, exc, f"rollback {request.model_id}")
