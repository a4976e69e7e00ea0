"""One catalog from our errors to gRPC status codes.

Our errors carry messages written for the caller (what, where, what to do);
anything else becomes INTERNAL with a generic message, details in the log.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc

from fedgov.errors import (
    GovernanceError,
    NotRegistered,
    QueryError,
    ReportRejected,
)

__all__ = ["abort_with"]

log = logging.getLogger(__name__)

# Most specific first.
_CATALOG: tuple[tuple[type[GovernanceError], grpc.StatusCode], ...] = (
    (NotRegistered, grpc.StatusCode.FAILED_PRECONDITION),
    (ReportRejected, grpc.StatusCode.INVALID_ARGUMENT),
    (QueryError, grpc.StatusCode.INVALID_ARGUMENT),
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in _CATALOG:
        if isinstance(exc, cls):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error in the aggregator; see its log"


def abort_with(context: grpc.ServicerContext, exc: BaseException, what: str) -> NoReturn:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.exception("%s failed", what)
    else:
        log.warning("%s rejected: %s", what, message)
    context.abort(code, message)
