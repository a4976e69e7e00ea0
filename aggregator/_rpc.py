"""Entering an RPC: whom it is for, what is checked, and how its errors leave.

:data:`RPC_ROLES` is the one table from each RPC of ``fedgov.v1.Aggregator``
to the roles it is meant for (``silo``, ``operator``, ``auditor``; DESIGN.md,
"Trust") and the identity check the server makes under mTLS. The :func:`rpc`
decorator wraps every servicer method: it bounds the request's identifiers,
globs and times (:func:`fedgov.wire.check_request`), checks the caller as the
table says, runs the method, and turns any exception into a gRPC status
through the catalog of :mod:`aggregator._status`, so methods hold no
try/except for statuses.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, cast

import grpc
from google.protobuf.message import Message

from aggregator._status import abort_status, abort_with
from fedgov.tls import peer_identity
from fedgov.wire import check_request

__all__ = ["RPC_ROLES", "Access", "Check", "Guarded", "Role", "rpc"]

Role = Literal["silo", "operator", "auditor"]
# What the server enforces under mTLS today: "own-silo", the caller's certificate
# names the silo the request acts as; "operator", the caller is the operator
# identity; "none", anyone the CA certified (roles for reads come with role
# certificates, a later issue).
Check = Literal["own-silo", "operator", "none"]


class Access(NamedTuple):
    roles: frozenset[Role]  # whom the RPC is meant for
    check: Check  # what is enforced today, with --tls
    silo_field: str = "silo_id"  # "own-silo": the request field naming the silo (dotted)


_SILO: frozenset[Role] = frozenset({"silo"})
_READ: frozenset[Role] = frozenset({"operator", "auditor"})
_OWN_OR_READ: frozenset[Role] = frozenset({"silo", "operator", "auditor"})
_OPERATOR: frozenset[Role] = frozenset({"operator"})

RPC_ROLES: Mapping[str, Access] = MappingProxyType(
    {
        "Register": Access(_SILO, "own-silo"),
        "SubmitReport": Access(_SILO, "own-silo", "report.silo_id"),
        "StreamCommands": Access(_SILO, "own-silo"),
        "AckCommand": Access(_SILO, "own-silo"),
        "QueryDrift": Access(_READ, "none"),
        "QueryFairness": Access(_READ, "none"),
        "QueryDecisions": Access(_READ, "none"),
        "ListJobs": Access(_READ, "none"),
        "QueryCentral": Access(_READ, "none"),
        "QuerySilos": Access(_READ, "none"),
        "QueryHistory": Access(_READ, "none"),
        "ListModels": Access(_READ, "none"),
        "PromoteModel": Access(_OPERATOR, "operator"),
        "RollbackModel": Access(_OPERATOR, "operator"),
        # A silo reads its own heads (held to it once roles are enforced for reads).
        "QueryAuditHeads": Access(_OWN_OR_READ, "none"),
    }
)


class Guarded(Protocol):
    """What :func:`rpc` needs of the servicer it wraps."""

    require_identity: bool  # mTLS: enforce the table's checks

    def deny(self, peer: str | None, claimed: str, what: str) -> None:
        """Count and audit a caller refused as ``claimed``."""


F = TypeVar("F", bound=Callable[..., Any])
Label = str | Callable[[Any], str]
Nested = Callable[[Any], Iterable[tuple[str, Message]]]


def rpc(
    what: Label,
    *,
    nested: Nested | None = None,
    on_error: Callable[[Any], None] | None = None,
) -> Callable[[F], F]:
    """Wrap a servicer method named after its RPC (a row of :data:`RPC_ROLES`).

    ``what`` names the call in logs and refusals (a string, or a function of
    the request); ``nested`` gives (where, sub-message) pairs bounded like the
    request; ``on_error(servicer)`` runs when the method itself raises, before
    the status leaves.
    """

    def decorate(method: F) -> F:
        access = RPC_ROLES[method.__name__]  # a KeyError at import: add the RPC to the table

        def enter(servicer: Guarded, request: Message, context: grpc.ServicerContext) -> str:
            label = what(request) if callable(what) else what
            try:
                check_request(request)
                for where, message in nested(request) if nested else ():
                    check_request(message, where)
            except Exception as exc:  # noqa: BLE001 - translated in one place
                abort_with(context, exc, label)
            _authorize(servicer, access, request, context, label)
            return label

        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def stream(
                servicer: Guarded, request: Message, context: grpc.ServicerContext
            ) -> Iterator[Any]:
                label = enter(servicer, request, context)
                try:
                    yield from method(servicer, request, context)
                except Exception as exc:  # noqa: BLE001 - translated in one place
                    abort_with(context, exc, label)

            return cast(F, stream)

        @functools.wraps(method)
        def unary(servicer: Guarded, request: Message, context: grpc.ServicerContext) -> Any:
            label = enter(servicer, request, context)
            try:
                return method(servicer, request, context)
            except Exception as exc:  # noqa: BLE001 - translated in one place
                if on_error is not None:
                    on_error(servicer)
                abort_with(context, exc, label)

        return cast(F, unary)

    return decorate


def _authorize(
    servicer: Guarded,
    access: Access,
    request: Message,
    context: grpc.ServicerContext,
    what: str,
) -> None:
    """PERMISSION_DENIED (counted and audited) if the caller may not make this call."""
    if not servicer.require_identity or access.check == "none":
        return
    peer = peer_identity(context)
    if access.check == "own-silo":
        claimed: str = functools.reduce(getattr, access.silo_field.split("."), request)
        if peer != claimed:
            servicer.deny(peer, claimed, what)
            abort_status(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{what}: the client certificate identifies {peer!r}, not silo {claimed!r}",
            )
    elif peer != "operator":
        servicer.deny(peer, "operator", what)
        abort_status(
            context,
            grpc.StatusCode.PERMISSION_DENIED,
            f"{what}: only the operator identity may do this",
        )
