"""Batched ingest (``SubmitReports``): a stream of reports read in batches, one ack each.

:func:`read_batches` cuts the stream into batches: what has arrived by the
time the previous batch is done, up to :data:`BATCH_MAX` reports, waiting at
most :data:`LINGER_S` for more once a batch has one (a client that sends one
report and waits for its ack gets it). At most one batch is read ahead, so a
fast sender is held back by gRPC's flow control, not by the server's memory:
a stream holds at most ``2 * BATCH_MAX`` reports (about 3 MB of the benchmark's
22 KB reports, decoded), and the admission caps bound the streams
(:mod:`aggregator.limits`: 256 in flight by default, as for unary calls).

:func:`ingest_batch` runs on the servicer's ingest lane (two threads, not the
pool of unary calls: the work holds the GIL): each request is checked on its
own as ``SubmitReport`` checks its one (its caller's silo, the bounds), each
report decoded, then :meth:`aggregator.ingest.Ingest.ingest_many` stores the
valid ones in one store transaction. Every request gets its ack, in order: a
refused one carries the status its own call would have ended with; the audit
records of the batch are appended together (one fsync) before any ack leaves,
and every ack carries the checkpoint signed after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from aggregator._refusal import Refusal
from aggregator._status import fit, status_for
from aggregator.exporter import AggregatorMetrics
from aggregator.handler import AggregatorHandler
from aggregator.ingest import Undecoded
from fedgov.errors import GovernanceError
from fedgov.report import Report
from fedgov.v1 import aggregator_pb2 as pb
from fedgov.v1 import report_pb2
from fedgov.wire import checkpoint_to_proto, report_from_proto

__all__ = ["BATCH_MAX", "LINGER_S", "decoded", "ingest_batch", "read_batches"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_MAX = 32  # reports per store transaction, at most (and read ahead per stream)
LINGER_S = 0.02  # how long a batch that has a report waits for more


async def read_batches(
    requests: AsyncIterator[T], size: int = BATCH_MAX, linger_s: float = LINGER_S
) -> AsyncIterator[list[T]]:
    """The requests of a stream in batches of 1 to ``size`` (see the module docstring).

    A task reads the stream into ``held`` (at most ``size`` ahead); per request it
    only appends and sets an event, so reading costs little more than gRPC's own.
    """
    held: list[T] = []
    ended: list[BaseException | None] = []  # [error or None] once the stream ended
    arrived = asyncio.Event()  # held has a request, or the stream ended
    full = asyncio.Event()  # held has ``size`` requests, or the stream ended
    room = asyncio.Event()  # held has fewer than ``size``

    async def pump() -> None:
        try:
            async for request in requests:
                held.append(request)
                arrived.set()
                if len(held) >= size:
                    full.set()
                    room.clear()
                    await room.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
            ended.append(exc)
        else:
            ended.append(None)
        arrived.set()
        full.set()

    task = asyncio.get_running_loop().create_task(pump())
    try:
        while True:
            await arrived.wait()
            if not full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), linger_s)
            batch = held[:size]
            del held[:size]
            if not ended:
                if len(held) < size:
                    full.clear()
                if not held:
                    arrived.clear()
            room.set()
            if not batch:
                break  # ended, and everything read was handed out
            yield batch
        if ended[0] is not None:
            raise ended[0]
    finally:
        task.cancel()


def ingest_batch(
    handler: AggregatorHandler,
    metrics: AggregatorMetrics,
    requests: list[Any],
    check: Callable[[Any], Refusal | None],
) -> list[pb.ReportAck]:
    """On a worker thread: check, decode and ingest ``requests`` (``SubmitReportRequest``,
    or undecodable ones, which ``check`` refuses); one ack per request, in order."""
    started = time.perf_counter()
    slots: list[BaseException | Refusal | None] = []  # None: see ingest_many
    reports: list[Report | Undecoded] = []
    with handler.audit_together():  # the checks' refusals and the batch's records
        for request in requests:
            refusal: BaseException | Refusal | None = check(request)
            if refusal is None:
                try:
                    reports.append(report_from_proto(request.report))
                except GovernanceError as exc:  # refused, and audited, in its turn
                    reports.append(Undecoded(request.report.report_id, request.report.silo_id, exc))
                except Exception as exc:  # noqa: BLE001 - this report's answer, alone
                    handler.reject_malformed(
                        request.report.report_id, request.report.silo_id, str(exc)
                    )
                    refusal = exc
            slots.append(refusal)
        ingested = iter(handler.ingest_many(reports))
    checkpoint = handler.checkpoint()  # signed after the batch's records
    signed = None if checkpoint is None else checkpoint_to_proto(checkpoint)
    elapsed = time.perf_counter() - started
    acks: list[pb.ReportAck] = []
    for request, slot in zip(requests, slots, strict=True):
        outcome = next(ingested) if slot is None else slot
        acks.append(_ack(metrics, request, outcome, signed))
        metrics.ingest_seconds.observe(elapsed)
    return acks


def decoded(handler: AggregatorHandler, message: report_pb2.Report) -> Report:
    """The domain report; a message that does not decode is audited as rejected."""
    try:
        return report_from_proto(message)
    except Exception as exc:
        handler.reject_malformed(message.report_id, message.silo_id, str(exc))
        raise


def _ack(
    metrics: AggregatorMetrics,
    request: Any,
    outcome: bool | BaseException | Refusal,
    checkpoint: pb.Checkpoint | None,
) -> pb.ReportAck:
    """The ack of one request: stored (now or before), or refused with its status."""
    report = getattr(request, "report", None)  # none in a request that did not decode
    report_id = "" if report is None else report.report_id
    if isinstance(outcome, bool):
        metrics.reports.labels("duplicate" if outcome else "accepted").inc()
        if not outcome:
            metrics.last_report.labels(request.report.silo_id).set_to_current_time()
        return pb.ReportAck(report_id=report_id, duplicate=outcome, checkpoint=checkpoint)
    metrics.reports.labels("rejected").inc()
    if isinstance(outcome, Refusal):
        code, message = outcome  # logged by the checks
    else:
        code, message = status_for(outcome)
        what = f"report {report_id!r} of a batch"
        if isinstance(outcome, GovernanceError):
            log.warning("%s rejected: %s", what, fit(message))
        else:
            log.error("%s failed", what, exc_info=outcome)
    error = pb.ReportError(code=code.value[0], message=fit(message))
    return pb.ReportAck(report_id=report_id, error=error)
