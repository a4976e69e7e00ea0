"""The agent's gRPC client: register, submit with retries, receive commands."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from fedgov import __version__
from fedgov.checkpoints import Checkpoint
from fedgov.errors import GovernanceError, TransportError
from fedgov.report import Report
from fedgov.spec import MonitoringSpec
from fedgov.tls import TlsFiles
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import aggregator_pb2_grpc, secagg_pb2
from fedgov.wire import checkpoint_from_proto, report_to_proto
from fedgov.wire.channel import open_channel
from fedgov.wire.retry import Backoff, call_with_retry, status_error

__all__ = ["Ack", "AggregatorClient", "Command", "RoundPoll", "register_request"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Command:
    command_id: str
    kind: str
    job_id: str
    model_id: str
    model_version: str
    reason: str
    payload: str = ""


@dataclass(frozen=True)
class Ack:
    """The aggregator's acknowledgement of a report."""

    duplicate: bool  # it had the report already
    checkpoint: Checkpoint | None  # its newest signed audit checkpoint, for the silo to keep


@dataclass(frozen=True)
class RoundPoll:
    """The aggregator's answer to a poll of one stage of a secure-aggregation round."""

    status: str  # "waiting" | "ready" | "completed" | "failed"
    reason: str = ""
    stage: int = 0
    adverts: tuple[bytes, ...] = ()  # ready after stage 1
    inbound: Mapping[str, bytes] = field(default_factory=dict)  # ready after stage 2
    survivors: tuple[str, ...] = ()  # ready after stage 3
    dropped: tuple[str, ...] = ()


def register_request(
    silo_id: str,
    jurisdiction: str,
    specs: Sequence[MonitoringSpec],
    policy_bundle_digest: str = "",
) -> pb.RegisterRequest:
    """What an agent registers: its silo, its policy bundle and each model with its spec."""
    return pb.RegisterRequest(
        silo_id=silo_id,
        jurisdiction=jurisdiction,
        policy_bundle_digest=policy_bundle_digest,
        agent_version=__version__,
        models=[
            pb.ModelServed(
                model_id=s.model_id,
                model_version=s.model_version,
                spec_digest=s.digest,
                spec_json=json.dumps(s.to_dict(), sort_keys=True),
            )
            for s in specs
        ],
    )


# A SubmitReports stream may take this much longer than one call, per report sent.
_SECONDS_PER_REPORT = 0.05
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _outcome(submit: Callable[[], Ack]) -> Ack | GovernanceError:
    """The ack of a submission, or the refusal of its report; a failure to reach the
    aggregator (TransportError) is raised: the next report would meet it too."""
    try:
        return submit()
    except TransportError:
        raise
    except GovernanceError as exc:
        return exc


class AggregatorClient:
    def __init__(
        self,
        address: str,
        *,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
        stop: threading.Event | None = None,
        tls: TlsFiles | None = None,
        interceptors: Sequence[grpc.UnaryUnaryClientInterceptor | grpc.UnaryStreamClientInterceptor]
        | None = None,
    ) -> None:
        """``interceptors`` wrap every call (e.g. a benchmark counting the bytes sent)."""
        self.address = address
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self._stop = stop or threading.Event()
        self._channel = open_channel(address, tls)
        channel = grpc.intercept_channel(self._channel, *interceptors) if interceptors else None
        self._stub = aggregator_pb2_grpc.AggregatorStub(channel or self._channel)
        self.batches = True  # submit_many uses SubmitReports (until answered UNIMPLEMENTED)

    def close(self) -> None:
        self._channel.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return call_with_retry(
            what, fn, address=self.address, backoff=self.backoff, stop=self._stop
        )

    def register(
        self,
        silo_id: str,
        jurisdiction: str,
        specs: Sequence[MonitoringSpec],
        policy_bundle_digest: str,
    ) -> str:
        req = register_request(silo_id, jurisdiction, specs, policy_bundle_digest)
        resp = self._call(
            f"register {silo_id}",
            lambda: self._stub.Register(req, timeout=self.timeout),
        )
        return resp.aggregator_version

    def submit(self, report: Report) -> Ack:
        """Submit until acknowledged."""
        req = pb.SubmitReportRequest(report=report_to_proto(report))
        ack = self._call(
            f"report {report.report_id}",
            lambda: self._stub.SubmitReport(req, timeout=self.timeout),
        )
        result = self._ack_or_error(ack)  # a unary ack carries no error: its status does
        if isinstance(result, GovernanceError):
            raise result
        return result

    def submit_many(self, reports: Sequence[Report]) -> list[Ack | GovernanceError]:
        """Submit on one ``SubmitReports`` stream until acknowledged: for each report in
        order, its ack or why the aggregator refused it (alone: the others are stored).

        A stream that breaks is sent again whole (ingest is idempotent: what was
        stored is acked as a duplicate). Against an aggregator without the RPC
        (UNIMPLEMENTED, an older release) each report goes by :meth:`submit`,
        from then on; so does a batch of one. Failing to reach the aggregator raises
        :class:`fedgov.errors.TransportError` (nothing of the batch is acknowledged).
        """
        if len(reports) <= 1 or not self.batches:
            return [_outcome(functools.partial(self.submit, r)) for r in reports]
        reqs = [pb.SubmitReportRequest(report=report_to_proto(r)) for r in reports]
        what = f"{len(reqs)} reports ({reqs[0].report.report_id} ...)"

        def attempt() -> list[pb.ReportAck] | None:
            try:
                stream = self._stub.SubmitReports(
                    iter(reqs), timeout=self.timeout + _SECONDS_PER_REPORT * len(reqs)
                )
                return list(stream)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return None
                raise

        acks = self._call(what, attempt)
        if acks is None:
            log.info("aggregator at %s has no SubmitReports: one call per report", self.address)
            self.batches = False
            return self.submit_many(reports)
        if [a.report_id for a in acks] != [r.report_id for r in reports]:
            raise TransportError(
                f"{what}: aggregator at {self.address} answered {len(acks)} acks that do not "
                "match the reports sent, in order; nothing is taken as acknowledged"
            )
        return [self._ack_or_error(ack) for ack in acks]

    def _ack_or_error(self, ack: pb.ReportAck) -> Ack | GovernanceError:
        if ack.HasField("error"):
            code = _CODES.get(ack.error.code, grpc.StatusCode.UNKNOWN)
            what = f"report {ack.report_id}"
            error = status_error(what, code, ack.error.message, address=self.address)
            return error or TransportError(f"{what}: {code.name}: {ack.error.message}")
        checkpoint = checkpoint_from_proto(ack.checkpoint) if ack.HasField("checkpoint") else None
        return Ack(bool(ack.duplicate), checkpoint)

    def commands(self, silo_id: str) -> Iterator[Command]:
        """Commands for this silo as they arrive; ends when the stream breaks."""
        stream = self._stub.StreamCommands(pb.StreamCommandsRequest(silo_id=silo_id))
        self._active_stream = stream
        for c in stream:
            yield Command(
                c.command_id,
                c.kind,
                c.job_id,
                c.model_id,
                c.model_version,
                c.reason,
                c.payload_json,
            )

    def cancel_stream(self) -> None:
        stream = getattr(self, "_active_stream", None)
        if stream is not None:
            stream.cancel()

    def ack_command(self, command_id: str, silo_id: str, status: str, message: str) -> None:
        req = pb.CommandAck(command_id=command_id, silo_id=silo_id, status=status, message=message)
        self._call(
            f"ack {command_id}",
            lambda: self._stub.AckCommand(req, timeout=self.timeout),
        )

    # -- secure-aggregation rounds (agent.secure_rounds) ---------------------------------
    def secagg_submit(self, round_id: str, silo_id: str, stage: int, payload: bytes) -> bool:
        """Send this silo's message of ``stage``; True when the aggregator had it already."""
        req = secagg_pb2.SecAggSubmitRequest(
            round_id=round_id, silo_id=silo_id, stage=stage, payload=payload
        )
        resp = self._call(
            f"round {round_id} stage {stage}",
            lambda: self._stub.SecAggSubmit(req, timeout=self.timeout),
        )
        return bool(resp.duplicate)

    def secagg_poll(self, round_id: str, silo_id: str, stage: int, wait_ms: int) -> RoundPoll:
        """Long-poll ``stage`` for up to ``wait_ms``."""
        req = secagg_pb2.SecAggPollRequest(
            round_id=round_id, silo_id=silo_id, stage=stage, wait_ms=wait_ms
        )
        resp = self._call(
            f"round {round_id} poll stage {stage}",
            lambda: self._stub.SecAggPoll(req, timeout=self.timeout + wait_ms / 1000),
        )
        return RoundPoll(
            status=resp.status,
            reason=resp.reason,
            stage=resp.stage,
            adverts=tuple(resp.adverts),
            inbound=dict(resp.inbound),
            survivors=tuple(resp.survivors),
            dropped=tuple(resp.dropped),
        )
