"""One catalog from our errors to gRPC status codes, and the one place a status leaves.

Our errors carry messages written for the caller (what, where, what to do);
anything else becomes INTERNAL with a generic message, details in the log.
Every message is cut to :data:`MAX_DETAIL_BYTES` of UTF-8 on its way out: it
travels in a trailer (percent-encoded, so up to three times longer), and one
longer than gRPC's metadata limit reaches the client as a bare transport failure
instead of the message.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc

from fedgov.errors import (
    GovernanceError,
    NotRegistered,
    Overloaded,
    QueryError,
    ReportRejected,
    RoundRefused,
    Superseded,
)

__all__ = ["MAX_DETAIL_BYTES", "abort_status", "abort_with", "fit"]

log = logging.getLogger(__name__)

# 2 KiB of UTF-8 is at most 6 KiB percent-encoded: under gRPC's 8 KiB default
# soft limit on all the metadata of a response, with room for the rest.
MAX_DETAIL_BYTES = 2048

# Most specific first.
_CATALOG: tuple[tuple[type[GovernanceError], grpc.StatusCode], ...] = (
    (NotRegistered, grpc.StatusCode.FAILED_PRECONDITION),
    (ReportRejected, grpc.StatusCode.INVALID_ARGUMENT),
    (QueryError, grpc.StatusCode.INVALID_ARGUMENT),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Superseded, grpc.StatusCode.ABORTED),
    (RoundRefused, grpc.StatusCode.FAILED_PRECONDITION),
)


def fit(message: str, limit: int = MAX_DETAIL_BYTES) -> str:
    """``message`` if its UTF-8 fits in ``limit`` bytes, else its head cut on a character
    boundary and ``... (N more characters)``, the whole within ``limit`` bytes."""
    data = message.encode("utf-8", "replace")
    if len(data) <= limit:
        return message
    # The suffix is at most this long: the count has fewer digits than the message bytes.
    room = limit - len(f"... ({len(data)} more characters)".encode())
    head = data[:room].decode("utf-8", "ignore")  # drops a character cut in half
    return f"{head}... ({len(message) - len(head)} more characters)"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in _CATALOG:
        if isinstance(exc, cls):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error in the aggregator; see its log"


def abort_status(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the call with ``code`` and ``message``, cut to fit (see :func:`fit`)."""
    context.abort(code, fit(message))
    raise AssertionError("context.abort returned")  # it raises; this tells type checkers


def abort_with(context: grpc.ServicerContext, exc: BaseException, what: str) -> NoReturn:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.exception("%s failed", fit(what, 200))
    else:
        log.warning("%s rejected: %s", fit(what, 200), fit(message))
    abort_status(context, code, message)
