"""Entering an RPC: whom it is for, what is checked, and how its errors leave.

:data:`RPC_ROLES` is the one table, and the whole truth, of who may call each
RPC of ``fedgov.v1.Aggregator`` under mTLS (DESIGN.md, "Trust"). Roles come
from the client certificate's URI SANs (:mod:`fedgov.identity`), never from
its Common Name nor from a request field:

- ``silo``: only as itself. Its own registration, reports, command stream
  and acknowledgements (``silo="own"``: the request's ``silo_field`` must
  name the caller), and reads of its own rows (``silo="scoped"``: the
  request's ``silo_field`` filter is set to the caller; naming another silo
  is denied). A read over merged figures of several silos (fairness, the
  central gate), jobs and the model registry is not open to silos.
- ``operator``: every read across all silos, promotions, rollbacks and silo
  approvals. Not the silos' own calls: an operator does not report or
  register as a silo.
- ``auditor``: every read across all silos; nothing that changes state.

``Register`` also names ``jurisdiction_field``: the jurisdiction is the one
the silo's certificate states, or else the one an operator approved for it
(``ApproveSilo``); a request naming another one is denied.

A call outside the table is PERMISSION_DENIED, counted and audited
(``identity_denied``). Without TLS (``--insecure``, the embedded demo/dev
mode) nothing is checked: any caller acts as any silo or role.

The :func:`rpc` decorator wraps every servicer method: it bounds the
request's identifiers, globs and times (:func:`fedgov.wire.check_request`),
checks the caller as the table says, runs the method, and turns any
exception into a gRPC status through the catalog of :mod:`aggregator._status`,
so methods hold no try/except for statuses. The server is ``grpc.aio``:
a call first takes a slot of :class:`aggregator.limits.Admission` on the
event loop, then the checks and a unary method run in one hop on a worker
thread; a server stream is an async generator on the loop, and so is a
method reading a stream of requests (``each``), whose requests are each
checked on their own: one refused gets its own answer, the others go on.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, NoReturn, Protocol, TypeVar, cast

import grpc
from google.protobuf.message import Message

from aggregator._refusal import Deferred, Refusal, Refused, relay
from aggregator._service import Undecodable
from aggregator._status import abort_status, abort_with, fit
from aggregator.limits import Admission
from fedgov.errors import Overloaded
from fedgov.identity import Identity, Role
from fedgov.tls import peer_identity
from fedgov.wire import check_request

__all__ = ["RPC_ROLES", "Access", "Guarded", "Role", "SiloRule", "rpc"]

# How a caller with the silo role is held to its own data: "own", the request's
# silo_field must name it; "scoped", a read whose silo_field filter is set to it;
# "none", the RPC is not open to silos.
SiloRule = Literal["own", "scoped", "none"]


class Access(NamedTuple):
    roles: frozenset[Role]  # who may call it under mTLS
    silo: SiloRule = "none"  # for the silo role: whose data
    silo_field: str = "silo_id"  # the request field naming the silo (dotted)
    jurisdiction_field: str = ""  # set from the certificate or the approved registry


_SILO: frozenset[Role] = frozenset({"silo"})
_ANYONE: frozenset[Role] = frozenset({"silo", "operator", "auditor"})
_READ: frozenset[Role] = frozenset({"operator", "auditor"})
_OPERATOR: frozenset[Role] = frozenset({"operator"})

RPC_ROLES: Mapping[str, Access] = MappingProxyType(
    {
        "Register": Access(_SILO, "own", jurisdiction_field="jurisdiction"),
        "SubmitReport": Access(_SILO, "own", "report.silo_id"),
        "SubmitReports": Access(_SILO, "own", "report.silo_id"),  # checked per report
        "StreamCommands": Access(_SILO, "own"),
        "AckCommand": Access(_SILO, "own"),
        "QueryDrift": Access(_ANYONE, "scoped"),
        "QueryFairness": Access(_READ),  # merged across silos
        "QueryDecisions": Access(_ANYONE, "scoped"),
        "ListJobs": Access(_READ),
        "QueryCentral": Access(_READ),  # merged across silos
        "QuerySilos": Access(_ANYONE, "scoped"),
        "QueryHistory": Access(_ANYONE, "scoped"),
        "ListModels": Access(_READ),
        "PromoteModel": Access(_OPERATOR),
        "RollbackModel": Access(_OPERATOR),
        "ApproveSilo": Access(_OPERATOR),
        "QueryAuditHeads": Access(_ANYONE, "scoped"),  # a silo reads its own heads
        "SecAggSubmit": Access(_SILO, "own"),  # a round's messages, as itself
        "SecAggPoll": Access(_SILO, "own"),
        "OpenRound": Access(_OPERATOR),
        "ListRounds": Access(_READ),
    }
)


T = TypeVar("T")


class Guarded(Protocol):
    """What :func:`rpc` needs of the servicer it wraps."""

    require_identity: bool  # mTLS: enforce the table's checks
    admission: Admission  # calls in flight per caller and per RPC

    def off_loop(self, fn: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
        """Run blocking ``fn(*args)`` on a worker thread."""

    def deny(self, peer: str | None, claimed: str, what: str) -> None:
        """Count and audit a caller refused as ``claimed``."""

    def approved_jurisdiction(self, silo_id: str) -> str | None:
        """The jurisdiction an operator approved for ``silo_id``, if any."""


F = TypeVar("F", bound=Callable[..., Any])
Label = str | Callable[[Any], str]
Nested = Callable[[Any], Iterable[tuple[str, Message]]]


def rpc(
    what: Label,
    *,
    nested: Nested | None = None,
    on_error: Callable[[Any], None] | None = None,
    each: bool = False,
) -> Callable[[F], F]:
    """Wrap a servicer method named after its RPC (a row of :data:`RPC_ROLES`): a plain
    ``def`` answering once, run with the checks on a worker thread (one hop off the
    event loop), or an async generator for a server stream, run on the loop.

    ``each``: the RPC reads a stream of requests, and each is checked on its own
    (:func:`_each`): the method, an async generator, is also given ``check``, which
    answers a :class:`Refusal` for a request refused alone, else None.

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

        def enter(
            servicer: Guarded, request: Message, context: grpc.ServicerContext, label: str
        ) -> None:
            try:
                check_request(request)
                for where, message in nested(request) if nested else ():
                    check_request(message, where)
            except Exception as exc:  # noqa: BLE001 - translated in one place
                abort_with(context, exc, label)
            _authorize(servicer, access, request, context, label)

        def admit(
            servicer: Guarded, request: Message, checks: Deferred
        ) -> tuple[str, Callable[[], None]]:
            """On the loop, before any work: the call's label and a slot, or a refusal."""
            if isinstance(request, Undecodable):
                raise Refused(grpc.StatusCode.INVALID_ARGUMENT, request.explain(name))
            label = what(request) if callable(what) else what
            return label, _slot(servicer, name, checks, label)

        if each:

            def check(servicer: Guarded, request: Message, checks: Deferred) -> Refusal | None:
                """On a worker thread: one request's checks; a refusal is its answer alone."""
                if isinstance(request, Undecodable):
                    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, request.explain(name))
                try:
                    enter(servicer, request, checks, what(request) if callable(what) else what)
                except Refused as refused:
                    return Refusal(refused.code, refused.details)
                return None

            return cast(F, _each(method, name, access, check))

        if inspect.isasyncgenfunction(method):

            @functools.wraps(method)
            async def stream(
                servicer: Guarded, request: Message, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                checks = Deferred(context)
                try:
                    label, release = admit(servicer, request, checks)
                except Refused as refused:
                    await refused.send(context)
                    return
                checked = functools.partial(
                    servicer.off_loop, enter, servicer, request, checks, label
                )
                answers = functools.partial(method, servicer, request, context)
                async for item in relay(context, checks, label, release, checked, answers):
                    yield item

            return cast(F, stream)

        if inspect.iscoroutinefunction(method):
            raise TypeError(f"{name}: a unary RPC method is a plain def, run on a worker thread")

        def work(servicer: Guarded, request: Message, checks: Deferred, label: str) -> Any:
            """On a worker thread: the checks, then the method (one hop off the loop)."""
            enter(servicer, request, checks, label)
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
            checks = Deferred(context)
            try:
                label, release = admit(servicer, request, checks)
                done = servicer.off_loop(work, servicer, request, checks, label)
                _release_when_done(done, release)
                # A caller that cancels keeps its slot until the worker is done: calling
                # and cancelling at once does not get past the caps.
                return await asyncio.shield(done)
            except Refused as refused:
                await refused.send(context)

        return cast(F, unary)

    return decorate


def _slot(servicer: Guarded, name: str, checks: Deferred, label: str) -> Callable[[], None]:
    """On the loop: a slot of the admission caps for the call (its release), or busy."""
    identity = peer_identity(checks)  # by certificate; by connection without mTLS
    caller = str(identity) if identity is not None else checks.peer()
    try:
        return servicer.admission.admit(name, caller, label)
    except Overloaded as exc:
        raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, fit(str(exc)), busy=True) from None


def _each(
    method: Callable[..., AsyncIterator[Any]],
    name: str,
    access: Access,
    check: Callable[[Guarded, Message, Deferred], Refusal | None],
) -> Callable[..., AsyncIterator[Any]]:
    """The wrapper of a method reading a stream of requests: one slot for the stream, the
    caller's role checked once (a caller who may never make the call is refused at
    once), each request checked by ``check(servicer, request, checks)``."""

    @functools.wraps(method)
    async def stream(
        servicer: Guarded, requests: AsyncIterator[Message], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        checks = Deferred(context)
        try:
            release = _slot(servicer, name, checks, name)
        except Refused as refused:
            await refused.send(context)
            return
        checked = functools.partial(servicer.off_loop, _role_check, servicer, access, checks, name)

        def calls(request: Message) -> Refusal | None:
            return check(servicer, request, checks)

        answers = functools.partial(method, servicer, requests, context, calls)
        async for item in relay(context, checks, name, release, checked, answers):
            yield item

    return stream


def _release_when_done(work: asyncio.Future[Any], release: Callable[[], None]) -> None:
    def done(future: asyncio.Future[Any]) -> None:
        release()
        if not future.cancelled():
            future.exception()  # seen: a call cancelled meanwhile has nobody to tell

    work.add_done_callback(done)


def _authorize(
    servicer: Guarded,
    access: Access,
    request: Message,
    context: grpc.ServicerContext,
    what: str,
) -> None:
    """PERMISSION_DENIED (counted and audited) unless the table lets the caller make this
    call; a silo's scoped read and its registration's jurisdiction are filled in."""
    call = _role_check(servicer, access, context, what)
    caller = None if call is None else call.caller
    if call is None or caller is None or caller.role != "silo":
        return
    named = _get(request, access.silo_field)
    if access.silo == "scoped" and not named:
        _set(request, access.silo_field, caller.name)  # its own rows only
    elif named != caller.name:
        call.deny(
            f"silo {named!r}",
            f"the client certificate identifies {caller.name!r}, not silo {named!r}",
        )
    if access.jurisdiction_field:
        held = _jurisdiction(call, caller, servicer.approved_jurisdiction(caller.name))
        asked = _get(request, access.jurisdiction_field)
        if asked and asked != held:
            call.deny(
                f"jurisdiction {asked!r}",
                f"silo {caller.name!r} is in jurisdiction {held!r}, not {asked!r} (that comes "
                "from its certificate or an operator's approval, never from the request)",
            )
        _set(request, access.jurisdiction_field, held)


def _role_check(
    servicer: Guarded, access: Access, context: grpc.ServicerContext, what: str
) -> _Call | None:
    """PERMISSION_DENIED (counted and audited) unless the caller's role may make the call;
    None without mTLS (nothing is checked), else the call and its caller."""
    if not servicer.require_identity:
        return None
    call = _Call(servicer, context, peer_identity(context), what)
    if call.caller is None or call.caller.role not in access.roles:
        roles = " or ".join(sorted(access.roles))
        call.deny(f"role {roles}", f"only a certificate with the role {roles} may do this")
    return call


def _jurisdiction(call: _Call, caller: Identity, approved: str | None) -> str:
    """A silo's jurisdiction: the one its certificate states, else the approved one."""
    certified = caller.jurisdiction
    if certified and approved and certified != approved:
        call.deny(
            f"jurisdiction {certified!r}",
            f"silo {caller.name!r}'s certificate states jurisdiction {certified!r} but an "
            f"operator approved {approved!r}; reissue the certificate or re-approve",
        )
    held = certified or approved
    if not held:
        call.deny(
            "an unapproved jurisdiction",
            f"silo {caller.name!r}'s certificate states no jurisdiction and none is approved; "
            f"an operator must run `fedgov silo approve {caller.name} --jurisdiction J`",
        )
    return held


class _Call(NamedTuple):
    servicer: Guarded
    context: grpc.ServicerContext
    caller: Identity | None
    what: str

    def deny(self, claimed: str, details: str) -> NoReturn:
        """Count and audit the caller refused as ``claimed``, then PERMISSION_DENIED."""
        peer = None if self.caller is None else str(self.caller)
        self.servicer.deny(peer, claimed, self.what)
        abort_status(self.context, grpc.StatusCode.PERMISSION_DENIED, f"{self.what}: {details}")


def _get(request: Message, field: str) -> str:
    value: str = functools.reduce(getattr, field.split("."), request)
    return value


def _set(request: Message, field: str, value: str) -> None:
    *path, last = field.split(".")
    setattr(functools.reduce(getattr, path, request), last, value)
