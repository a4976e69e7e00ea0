"""Calling the aggregator with retries: exponential backoff with full jitter.

Only transient failures are retried: UNAVAILABLE (the aggregator down or
restarting, the connection lost), DEADLINE_EXCEEDED (no answer in time), and
RESOURCE_EXHAUSTED marked busy (trailer :data:`BUSY_KEY`: too many calls in
flight at the aggregator, nothing done).
Any other status is the aggregator's or gRPC's real answer and retrying would
get it again, so it is raised at once with its code and details:
INVALID_ARGUMENT, OUT_OF_RANGE and RESOURCE_EXHAUSTED (a message over gRPC's
size limits) as a rejection, FAILED_PRECONDITION as :class:`NotRegistered`,
PERMISSION_DENIED as a rejection naming it, anything else (INTERNAL,
UNIMPLEMENTED...) as a :class:`TransportError` that names the status.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc

from fedgov.errors import (
    GovernanceError,
    NotRegistered,
    QueryError,
    ReportRejected,
    TransportError,
)

__all__ = ["BUSY_KEY", "Backoff", "call_with_retry", "status_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# The trailer the aggregator adds to a RESOURCE_EXHAUSTED that means "busy, try later"
# rather than "this message is over gRPC's size limits".
BUSY_KEY = "fedgov-busy"
_REFUSED = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE})


@dataclass(frozen=True)
class Backoff:
    """Delays grow by ``multiplier`` up to ``maximum``; ``max_elapsed`` None retries forever."""

    initial: float = 0.2
    maximum: float = 10.0
    multiplier: float = 2.0
    max_elapsed: float | None = 30.0

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield random.uniform(0, delay)
            delay = min(self.maximum, delay * self.multiplier)


def call_with_retry(
    what: str,
    fn: Callable[[], T],
    *,
    address: str,
    backoff: Backoff,
    stop: threading.Event | None = None,
    rejected: type[ReportRejected] | type[QueryError] = ReportRejected,
) -> T:
    start = time.monotonic()
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except grpc.RpcError as exc:
            code = exc.code()
            detail = exc.details() or ""
            error = status_error(
                what, code, detail, address=address, busy=_busy(exc), rejected=rejected
            )
            if error is not None:
                raise error from None
            elapsed = time.monotonic() - start
            limit = backoff.max_elapsed
            if limit is not None and elapsed >= limit:
                raise TransportError(
                    f"{what}: aggregator at {address} failed after {attempt} attempt(s) "
                    f"over {elapsed:.1f}s: {code.name} {detail}. Is it running, and is the "
                    "address right?"
                ) from None
            delay = next(delays)
            log.warning(
                "%s: aggregator at %s unavailable (%s); retry %d in %.1fs",
                what,
                address,
                code.name,
                attempt,
                delay,
            )
            if stop is not None:
                if stop.wait(delay):
                    raise TransportError(f"{what}: stopped while retrying") from None
            else:
                time.sleep(delay)


def status_error(
    what: str,
    code: grpc.StatusCode,
    detail: str,
    *,
    address: str,
    busy: bool = False,
    rejected: type[ReportRejected] | type[QueryError] = ReportRejected,
) -> GovernanceError | None:
    """The error a status from the aggregator means (see the module docstring), or None
    when it is transient and worth a retry."""
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return NotRegistered(f"{what}: {detail}")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return rejected(f"{what}: permission denied: {detail}")
    if code in _REFUSED:
        return rejected(f"{what}: {detail}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and not busy:
        return rejected(
            f"{what}: {detail} (the request or its answer is larger than gRPC allows; "
            "send less, or narrow the query)"
        )
    if code not in _TRANSIENT and code != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return TransportError(f"{what}: aggregator at {address} answered {code.name}: {detail}")
    return None


def _busy(exc: grpc.RpcError) -> bool:
    """Whether the aggregator marked this status as "busy, nothing done, try later"."""
    trailers = getattr(exc, "trailing_metadata", lambda: None)() or ()
    return any(key == BUSY_KEY for key, _ in trailers)
