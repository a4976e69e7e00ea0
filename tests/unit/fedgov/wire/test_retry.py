"""Only UNAVAILABLE and DEADLINE_EXCEEDED are retried; any other status is reported as is."""

from __future__ import annotations

import grpc
import pytest

from fedgov.errors import NotRegistered, QueryError, ReportRejected, TransportError
from fedgov.wire.retry import BUSY_KEY, Backoff, call_with_retry


class _Failed(grpc.RpcError):
    def __init__(
        self, code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


Trailers = tuple[tuple[str, str], ...]


def _attempts(
    code: grpc.StatusCode, expected: type[Exception], trailers: Trailers = (), **kw: object
) -> tuple[int, str]:
    calls = 0

    def fail() -> None:
        nonlocal calls
        calls += 1
        raise _Failed(code, "the details", trailers)

    with pytest.raises(expected) as err:
        call_with_retry(
            "query",
            fail,
            address="agg:1",
            backoff=Backoff(initial=0.001, maximum=0.001, max_elapsed=0.05),
            **kw,  # type: ignore[arg-type]
        )
    return calls, str(err.value)


@pytest.mark.parametrize(
    ("code", "expected", "says"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, ReportRejected, "query: the details"),
        (grpc.StatusCode.OUT_OF_RANGE, ReportRejected, "query: the details"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ReportRejected, "larger than gRPC allows"),
        (grpc.StatusCode.FAILED_PRECONDITION, NotRegistered, "query: the details"),
        (grpc.StatusCode.PERMISSION_DENIED, ReportRejected, "permission denied: the details"),
        (grpc.StatusCode.INTERNAL, TransportError, "answered INTERNAL: the details"),
        (grpc.StatusCode.ABORTED, TransportError, "answered ABORTED: the details"),
        (grpc.StatusCode.UNIMPLEMENTED, TransportError, "answered UNIMPLEMENTED"),
        (grpc.StatusCode.UNKNOWN, TransportError, "answered UNKNOWN"),
    ],
)
def test_a_non_transient_status_is_raised_at_once(
    code: grpc.StatusCode, expected: type[Exception], says: str
) -> None:
    calls, message = _attempts(code, expected)
    assert calls == 1
    assert says in message and "Is it running" not in message


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_a_transient_status_is_retried_until_the_deadline(code: grpc.StatusCode) -> None:
    calls, message = _attempts(code, TransportError)
    assert calls > 1
    assert f"{code.name} the details. Is it running" in message


def test_a_query_rejection_is_a_query_error() -> None:
    calls, _ = _attempts(grpc.StatusCode.INVALID_ARGUMENT, QueryError, rejected=QueryError)
    assert calls == 1


def test_a_busy_aggregator_is_retried_but_an_oversized_message_is_not() -> None:
    calls, message = _attempts(
        grpc.StatusCode.RESOURCE_EXHAUSTED, TransportError, trailers=((BUSY_KEY, "1"),)
    )
    assert calls > 1 and "RESOURCE_EXHAUSTED the details" in message
    calls, message = _attempts(grpc.StatusCode.RESOURCE_EXHAUSTED, ReportRejected)
    assert calls == 1 and "larger than gRPC allows" in message
