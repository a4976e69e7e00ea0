"""Entering an RPC: whom it is for, what is checked, and how its errors leave.

:data:`RPC_ROLES` is the one table from each RPC of ``fedgov.v1.Aggregator``
to the roles it is meant for (``silo``, ``operator``, ``auditor``; DESIGN.md,
"Trust") and the identity check the server makes under mTLS. The :func:`rpc`
decorator wraps every servicer method: it bounds the request's identifiers,
globs and times (:func:`fedgov.wire.check_request`), checks the caller as the
table says, runs the method, and turns any exception into a gRPC status
through the catalog of :mod:`aggregator._status`, so methods hold no
try/except for statuses. Methods are coroutines on the server's event loop
(``grpc.aio``); whatever blocks or burns CPU they hand to a worker thread.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, cast

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from aggregator._status import abort_status, abort_with, fit
from aggregator.limits import Admission
from fedgov.errors import Overloaded
from fedgov.tls import peer_identity
from fedgov.v1 import aggregator_pb2
from fedgov.wire import check_request
from fedgov.wire.retry import BUSY_KEY

__all__ = ["RPC_ROLES", "Access", "Check", "Guarded", "Role", "add_service", "rpc"]

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
    }
)


T = TypeVar("T")


class Guarded(Protocol):
    """What :func:`rpc` needs of the servicer it wraps."""

    require_identity: bool  # mTLS: enforce the table's checks
    admission: Admission  # calls in flight per caller and per RPC

    def off_loop(self, fn: Callable[..., T], /, *args: Any) -> Awaitable[T]:
        """Run blocking ``fn(*args)`` on a worker thread."""

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
    """Wrap a servicer method named after its RPC (a row of :data:`RPC_ROLES`): a plain
    ``def`` answering once, run with the checks on a worker thread (one hop off the
    event loop), or an async generator for a server stream, run on the loop.

    ``what`` names the call in logs and refusals (a string, or a function of
    the request); ``nested`` gives (where, sub-message) pairs bounded like the
    request; ``on_error(servicer)`` runs when the method itself raises, before
    the status leaves. Before anything else the call takes a slot of
    :class:`aggregator.limits.Admission` (RESOURCE_EXHAUSTED, marked busy, when
    the caller or the RPC is at its cap); the checks run on a worker thread,
    since they may write the audit log.
    """

    def decorate(method: F) -> F:
        name = method.__name__
        access = RPC_ROLES[name]  # a KeyError at import: add the RPC to the table

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

        def admit(servicer: Guarded, request: Message, checks: _Deferred) -> Callable[[], None]:
            """On the loop, before any work: a slot for the call, or a refusal."""
            if isinstance(request, _Undecodable):
                raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, request.explain(name))
            label = what(request) if callable(what) else what
            caller = peer_identity(checks) or checks.peer()
            try:
                return servicer.admission.admit(name, caller, label)
            except Overloaded as exc:
                raise _Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, fit(str(exc)), busy=True)

        if inspect.isasyncgenfunction(method):

            @functools.wraps(method)
            async def stream(
                servicer: Guarded, request: Message, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                checks, label = _Deferred(context), name
                try:
                    release = admit(servicer, request, checks)
                    try:
                        label = await servicer.off_loop(enter, servicer, request, checks)
                        async with contextlib.aclosing(method(servicer, request, context)) as it:
                            async for item in it:
                                yield item
                    except _Refused:
                        raise
                    except Exception as exc:  # noqa: BLE001 - translated in one place
                        abort_with(checks, exc, label)
                    finally:
                        release()
                except _Refused as refused:
                    await refused.send(context)

            return cast(F, stream)

        if inspect.iscoroutinefunction(method):
            raise TypeError(f"{name}: a unary RPC method is a plain def, run on a worker thread")

        def work(servicer: Guarded, request: Message, checks: _Deferred) -> Any:
            """On a worker thread: the checks, then the method (one hop off the loop)."""
            label = enter(servicer, request, checks)
            try:
                return method(servicer, request, checks)
            except Exception as exc:  # noqa: BLE001 - translated in one place
                if on_error is not None:
                    on_error(servicer)
                abort_with(checks, exc, label)

        @functools.wraps(method)
        async def unary(
            servicer: Guarded, request: Message, context: grpc.aio.ServicerContext
        ) -> Any:
            checks = _Deferred(context)
            try:
                release = admit(servicer, request, checks)
                try:
                    return await servicer.off_loop(work, servicer, request, checks)
                finally:
                    release()
            except _Refused as refused:
                await refused.send(context)

        return cast(F, unary)

    return decorate


class _Refused(Exception):
    """A status decided by the synchronous checks, sent by the wrapper on the real context
    (a refusal, not an error of the method: the stream wrapper lets it pass untouched)."""

    def __init__(self, code: grpc.StatusCode, details: str, *, busy: bool = False) -> None:
        super().__init__(details)
        self.code, self.details, self.busy = code, details, busy

    async def send(self, context: grpc.aio.ServicerContext) -> None:
        if self.busy:  # "busy, nothing done": agents retry it (fedgov.wire.retry)
            await context.abort(self.code, self.details, trailing_metadata=((BUSY_KEY, "1"),))
        await context.abort(self.code, self.details)


class _Deferred:
    """The call's context as the synchronous checks see it (on any thread): ``abort``
    raises :class:`_Refused` at once; the wrapper then ends the call on the event loop."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Refused(code, details)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


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


class _Undecodable:
    """What a request that is not its message's protobuf encoding decodes to."""

    def __init__(self, kind: str, error: Exception) -> None:
        self.kind, self.error = kind, error

    def explain(self, rpc_name: str) -> str:
        return fit(
            f"{rpc_name}: the request is not a valid {self.kind} message ({self.error}); "
            "send one built from fedgov's protos"
        )


def _decoder(cls: type[Message]) -> Callable[[bytes], Message | _Undecodable]:
    def decode(data: bytes) -> Message | _Undecodable:
        try:
            return cls.FromString(data)
        except DecodeError as exc:
            return _Undecodable(cls.DESCRIPTOR.full_name, exc)

    return decode


def add_service(servicer: object, server: grpc.aio.Server) -> None:
    """Register ``fedgov.v1.Aggregator`` on ``server``, as the generated
    ``add_AggregatorServicer_to_server`` does, except that bytes which do not decode
    reach :func:`rpc` (INVALID_ARGUMENT in words) instead of gRPC's UNKNOWN with a
    Python exception's name in it and a traceback in the log."""
    service = aggregator_pb2.DESCRIPTOR.services_by_name["Aggregator"]
    handlers = {}
    for method in service.methods:
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_decoder(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
