"""The gRPC servicer: translate messages, call the handler, build the answer.

Every method is wrapped by :func:`aggregator._rpc.rpc`, which first bounds its
request's identifiers, globs and times (:func:`fedgov.wire.check_request`),
so nothing below sees a 100,000-character model id or a time in the year
300,000,000, then checks the caller against the RPC -> roles table, and
sends every error out through :mod:`aggregator._status`. Answers travel
through :mod:`aggregator.query_serde`.

The server is ``grpc.aio``. A unary method is a plain function that the
decorator runs, with the checks, on a bounded pool of worker threads
(:meth:`AggregatorServicer.off_loop`): decoding and ingesting a report, store
reads, policy evaluation and building answers never hold the event loop. The
command stream is a coroutine: it waits on the loop and costs no thread; a
silo holds one (:class:`aggregator.silo_commands.CommandHub`). A stream of
reports (``SubmitReports``) is read on the loop in batches, and each batch is
checked and stored in one hop, on a lane of two threads of its own
(:mod:`aggregator.report_batches`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

from aggregator import answers as a
from aggregator import query_serde as serde
from aggregator._refusal import Refusal
from aggregator._rows import command_to_proto, round_to_proto
from aggregator._rpc import rpc
from aggregator.exporter import AggregatorMetrics
from aggregator.handler import AggregatorHandler, ModelRegistration
from aggregator.limits import Admission
from aggregator.replicas import COMMAND_POLL_S
from aggregator.report_batches import (
    BATCH_MAX,
    LINGER_S,
    decoded,
    ingest_batch,
    read_batches,
)
from fedgov import __version__
from fedgov.errors import Superseded
from fedgov.tls import peer_identity
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc, secagg_pb2
from fedgov.wire import checkpoint_to_proto, heads_to_proto

__all__ = ["AggregatorServicer"]

log = logging.getLogger(__name__)

T = TypeVar("T")

INGEST_THREADS = 2  # threads that check and store SubmitReports' batches


def _count_rejected(servicer: AggregatorServicer) -> None:
    servicer.metrics.reports.labels("rejected").inc()


def _rows(kind: type[a.RowAnswer], records: Iterable[Any]) -> Message:
    """The response of a row query: each store record read as ``kind``, then its message."""
    return serde.rows_to_proto(kind, map(kind.of, records))


class AggregatorServicer(aggregator_pb2_grpc.AggregatorServicer):
    def __init__(
        self,
        handler: AggregatorHandler,
        *,
        require_identity: bool = False,
        metrics: AggregatorMetrics | None = None,
        admission: Admission | None = None,
        pool: Executor | None = None,
    ) -> None:
        self.handler = handler
        self.require_identity = require_identity
        self.metrics = metrics or AggregatorMetrics(CollectorRegistry())
        self.admission = admission or Admission()
        self.pool = pool or ThreadPoolExecutor(max_workers=8, thread_name_prefix="fedgov-agg")
        # While streams are open, one task reads the store this often for commands that
        # another replica stored (the floor under NOTIFY: aggregator.replicas).
        self.recheck_s = COMMAND_POLL_S
        self.batch_max = BATCH_MAX  # SubmitReports: reports per store transaction, at most
        self.batch_linger_s = LINGER_S  # and how long a batch waits for more
        # SubmitReports' batches run on a lane of their own: the work holds the GIL
        # (decoding, checks), so more threads only add handovers of it; two let one
        # batch commit (fsync) while the next is checked.
        self.ingest_lane = ThreadPoolExecutor(
            max_workers=INGEST_THREADS, thread_name_prefix="fedgov-ingest"
        )
        self._sweeper: asyncio.Task[None] | None = None

    def off_loop(self, fn: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
        """Run blocking ``fn(*args)`` on a worker thread of :attr:`pool`."""
        return asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def _start_sweep(self) -> None:
        """On the loop: make sure the one task that looks for commands stored elsewhere runs."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """While streams are open, every ``recheck_s`` (jittered) wake those with commands."""
        hub = self.handler.hub
        while not hub.closed and hub.open_streams():
            await asyncio.sleep(self.recheck_s * random.uniform(0.5, 1.0))
            if hub.closed:
                return
            try:
                await self.off_loop(self.handler.commands.wake_waiting)
                await self.off_loop(self.handler.rounds.tick)
            except Exception:  # noqa: BLE001 - a store hiccup must not end the sweep
                log.warning("looking for pending commands failed; trying again", exc_info=True)

    async def stop_sweep(self) -> None:
        """On the loop, as the server stops: end the sweep (it may be asleep)."""
        if self._sweeper is not None and not self._sweeper.done():
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def deny(self, peer: str | None, claimed: str, what: str) -> None:
        """Under mTLS a caller acts only as the identity its certificate names."""
        self.metrics.denied.inc()
        self.handler.record_denied(peer, claimed, what)

    def approved_jurisdiction(self, silo_id: str) -> str | None:
        return self.handler.approved_jurisdiction(silo_id)

    # -- silos -------------------------------------------------------------------
    @rpc("register", nested=lambda r: [(f"models[{i}]", m) for i, m in enumerate(r.models)])
    def Register(
        self, request: pb.RegisterRequest, context: grpc.ServicerContext
    ) -> pb.RegisterResponse:
        self.handler.register(
            request.silo_id,
            request.jurisdiction,
            request.policy_bundle_digest,
            [
                ModelRegistration(m.model_id, m.model_version, m.spec_digest, m.spec_json)
                for m in request.models
            ],
        )
        return pb.RegisterResponse(aggregator_version=__version__)

    @rpc(lambda r: f"report {r.report.report_id!r}", on_error=_count_rejected)
    def SubmitReport(
        self, request: pb.SubmitReportRequest, context: grpc.ServicerContext
    ) -> pb.ReportAck:
        started = time.perf_counter()
        report = decoded(self.handler, request.report)
        duplicate = self.handler.ingest(report)
        self.metrics.reports.labels("duplicate" if duplicate else "accepted").inc()
        if not duplicate:
            self.metrics.last_report.labels(report.silo_id).set_to_current_time()
        self.metrics.ingest_seconds.observe(time.perf_counter() - started)
        checkpoint = self.handler.checkpoint()
        return pb.ReportAck(
            report_id=report.report_id,
            duplicate=duplicate,
            checkpoint=None if checkpoint is None else checkpoint_to_proto(checkpoint),
        )

    @rpc(lambda r: f"report {r.report.report_id!r}", each=True)
    async def SubmitReports(  # type: ignore[override]  # rpc(each=True) passes check
        self,
        requests: AsyncIterator[pb.SubmitReportRequest],
        context: grpc.aio.ServicerContext,
        check: Callable[[Message], Refusal | None],
    ) -> AsyncIterator[pb.ReportAck]:
        loop = asyncio.get_running_loop()
        async for batch in read_batches(requests, self.batch_max, self.batch_linger_s):
            for ack in await loop.run_in_executor(
                self.ingest_lane, ingest_batch, self.handler, self.metrics, batch, check
            ):
                yield ack

    @rpc("command stream")
    async def StreamCommands(
        self, request: pb.StreamCommandsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Command]:
        silo = request.silo_id
        stream = self.handler.hub.open(silo)  # ends an older stream of the same silo
        self._start_sweep()
        log.info("command stream opened by %s", silo)
        self.metrics.open_streams.inc()
        try:
            while not stream.ended:
                stream.rearm()
                for cmd in await self.off_loop(self.handler.pending_commands, silo):
                    if cmd.command_id not in stream.sent:
                        stream.sent.add(cmd.command_id)
                        yield command_to_proto(cmd)
                await stream.wait()  # woken by a send here, or by the sweep
        finally:
            self.handler.hub.release(stream)
            self.metrics.open_streams.dec()
        if stream.superseded:
            raise Superseded(
                f"command stream of silo {silo!r}: replaced by a newer stream of the same "
                "silo (another connection with its identity); a silo holds one stream"
            )
        log.info("command stream for %s closed", silo)

    @rpc(lambda r: f"ack of command {r.command_id!r}")
    def AckCommand(
        self, request: pb.CommandAck, context: grpc.ServicerContext
    ) -> pb.CommandAckResponse:
        self.handler.ack_command(
            request.command_id, request.silo_id, request.status, request.message
        )
        return pb.CommandAckResponse()

    # -- queries -------------------------------------------------------------------
    @rpc("drift query")
    def QueryDrift(self, request: pb.DriftQuery, context: grpc.ServicerContext) -> Message:
        found = self.handler.query_drift(
            request.psi_threshold,
            since_ms=request.since_unix_ms,
            model_id=request.model_id,
            jurisdiction_glob=request.jurisdiction_glob,
            silo_id=request.silo_id,
        )
        return _rows(a.DriftRow, found)

    @rpc("fairness query")
    def QueryFairness(self, request: pb.FairnessQuery, context: grpc.ServicerContext) -> Message:
        ans = self.handler.query_fairness(
            request.model_id,
            model_version=request.model_version,
            jurisdiction_glob=request.jurisdiction_glob,
            since_ms=request.since_unix_ms,
            source=request.source,
        )
        return serde.answer_to_proto(ans)

    @rpc("decisions query")
    def QueryDecisions(self, request: pb.DecisionsQuery, context: grpc.ServicerContext) -> Message:
        found = self.handler.query_decisions(request.jurisdiction_glob, request.silo_id)
        return _rows(a.DecisionRow, found)

    @rpc("jobs query")
    def ListJobs(self, request: pb.JobsQuery, context: grpc.ServicerContext) -> Message:
        jobs = self.handler.list_jobs(request.model_id)
        return _rows(a.JobRow, jobs)

    @rpc("central query")
    def QueryCentral(self, request: pb.CentralQuery, context: grpc.ServicerContext) -> Message:
        found = self.handler.central_decisions(request.model_id)
        return _rows(a.CentralRow, found)

    @rpc("silos query")
    def QuerySilos(self, request: pb.SilosQuery, context: grpc.ServicerContext) -> Message:
        silos = self.handler.query_silos(
            stale_after_ms=request.stale_after_ms,
            jurisdiction_glob=request.jurisdiction_glob,
            silo_id=request.silo_id,
        )
        return _rows(a.SiloRow, silos)

    @rpc("history query")
    def QueryHistory(self, request: pb.HistoryQuery, context: grpc.ServicerContext) -> Message:
        points = self.handler.query_history(
            request.model_id,
            request.metric,
            feature=request.feature or None,
            attribute=request.attribute or None,
            since_ms=request.since_unix_ms,
            jurisdiction_glob=request.jurisdiction_glob,
            silo_id=request.silo_id,
        )
        return _rows(a.HistoryPoint, points)

    @rpc("audit heads query")
    def QueryAuditHeads(
        self, request: pb.AuditHeadsQuery, context: grpc.ServicerContext
    ) -> Message:
        return heads_to_proto(request.silo_id, self.handler.audit_heads(request.silo_id))

    # -- model registry ------------------------------------------------------------
    def _models(self, model_id: str) -> Message:
        versions = self.handler.list_models(model_id)
        return _rows(a.ModelVersion, versions)

    @rpc("models query")
    def ListModels(self, request: pb.ModelsQuery, context: grpc.ServicerContext) -> Message:
        return self._models(request.model_id)

    @rpc("promote")
    def PromoteModel(self, request: pb.PromoteRequest, context: grpc.ServicerContext) -> Message:
        reason = request.reason or "operator promotion"
        self.handler.promote(request.model_id, request.version, reason=reason)
        return self._models(request.model_id)

    @rpc("rollback")
    def RollbackModel(self, request: pb.RollbackRequest, context: grpc.ServicerContext) -> Message:
        self.handler.rollback(request.model_id)
        return self._models(request.model_id)

    @rpc(lambda r: f"approval of silo {r.silo_id!r}")
    def ApproveSilo(
        self, request: pb.ApproveSiloRequest, context: grpc.ServicerContext
    ) -> pb.ApproveSiloResponse:
        caller = peer_identity(context)
        done = self.handler.approve_silo(
            request.silo_id,
            request.jurisdiction,
            approved_by=str(caller) if caller else "an unauthenticated caller (no TLS)",
            reason=request.reason or "operator approval",
        )
        return pb.ApproveSiloResponse(
            silo_id=done.silo_id,
            jurisdiction=done.jurisdiction,
            previous_jurisdiction=done.previous or "",
            approved_unix_ms=done.approved_ms,
        )

    # -- secure aggregation rounds ---------------------------------------------------
    @rpc(lambda r: f"secure round {r.round_id[:12]!r} stage {r.stage} message")
    def SecAggSubmit(
        self, request: secagg_pb2.SecAggSubmitRequest, context: grpc.ServicerContext
    ) -> secagg_pb2.SecAggSubmitResponse:
        new = self.handler.rounds.submit(
            request.round_id, request.silo_id, request.stage, request.payload
        )
        return secagg_pb2.SecAggSubmitResponse(duplicate=not new)

    @rpc(lambda r: f"secure round {r.round_id[:12]!r} stage {r.stage} poll")
    def SecAggPoll(
        self, request: secagg_pb2.SecAggPollRequest, context: grpc.ServicerContext
    ) -> secagg_pb2.SecAggPollResponse:
        ans = self.handler.rounds.poll(request.round_id, request.silo_id, request.stage)
        return secagg_pb2.SecAggPollResponse(
            status=ans.status,
            reason=ans.reason,
            stage=ans.stage,
            adverts=ans.adverts,
            inbound=ans.inbound,
            survivors=ans.survivors,
            dropped=ans.dropped,
        )

    @rpc(lambda r: f"opening a secure round of {r.model_id!r}")
    def OpenRound(
        self, request: secagg_pb2.OpenRoundRequest, context: grpc.ServicerContext
    ) -> secagg_pb2.OpenRoundResponse:
        caller = peer_identity(context)
        opened = self.handler.rounds.open(
            request.model_id,
            request.period_start_unix_ms,
            request.period_end_unix_ms,
            request.part,
            by=str(caller) if caller else "an unauthenticated caller (no TLS)",
        )
        return secagg_pb2.OpenRoundResponse(rounds=[round_to_proto(r) for r in opened])

    @rpc("rounds query")
    def ListRounds(
        self, request: secagg_pb2.RoundsQuery, context: grpc.ServicerContext
    ) -> secagg_pb2.RoundsResponse:
        found = self.handler.rounds.rounds(request.model_id)
        return secagg_pb2.RoundsResponse(rounds=[round_to_proto(r) for r in found])
