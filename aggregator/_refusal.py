"""How the synchronous checks of a call refuse it, on any thread, before the call ends.

The checks of :func:`aggregator._rpc.rpc` run on a worker thread, where the
call's ``context.abort`` may not be called: :class:`Deferred` stands for the
context there, and its ``abort`` raises :class:`Refused`, which the wrapper,
back on the event loop, sends. A request of a stream checked on its own is
refused with a :class:`Refusal`, its answer alone, and the stream goes on.
:func:`relay` ends a stream the same way: refused, or failed with its status.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import grpc

from aggregator._status import abort_with
from fedgov.wire.retry import BUSY_KEY

__all__ = ["Deferred", "Refusal", "Refused", "relay"]


class Refused(Exception):
    """A status decided by the synchronous checks, sent by the wrapper on the real context
    (a refusal, not an error of the method: the stream wrapper lets it pass untouched)."""

    def __init__(self, code: grpc.StatusCode, details: str, *, busy: bool = False) -> None:
        super().__init__(details)
        self.code, self.details, self.busy = code, details, busy

    async def send(self, context: grpc.aio.ServicerContext) -> None:
        if self.busy:  # "busy, nothing done": agents retry it (fedgov.wire.retry)
            await context.abort(self.code, self.details, trailing_metadata=((BUSY_KEY, "1"),))
        await context.abort(self.code, self.details)


class Deferred:
    """The call's context as the synchronous checks see it (on any thread): ``abort``
    raises :class:`Refused` at once; the wrapper then ends the call on the event loop."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self._auth: Mapping[str, Sequence[bytes]] | None = None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Refused(code, details)

    def auth_context(self) -> Mapping[str, Sequence[bytes]]:
        """The peer's authentication, read once: it holds for the whole call (a stream's
        requests are each checked against it)."""
        if self._auth is None:
            self._auth = self._context.auth_context()
        return self._auth

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class Refusal(NamedTuple):
    """A request of a stream refused alone: the status its own call would have ended with."""

    code: grpc.StatusCode
    details: str


async def relay(
    context: grpc.aio.ServicerContext,
    checks: Deferred,
    label: str,
    release: Callable[[], None],
    checked: Callable[[], Awaitable[Any]],
    answers: Callable[[], AsyncGenerator[Any, None]],
) -> AsyncIterator[Any]:
    """A stream's answers once ``checked()`` passed; a refusal or an error ends it with
    its status (translated in one place), and its admission slot is released at the end."""
    try:
        try:
            await checked()
            async with contextlib.aclosing(answers()) as it:
                async for item in it:
                    yield item
        except Refused:
            raise
        except Exception as exc:  # noqa: BLE001 - translated in one place
            abort_with(checks, exc, label)
        finally:
            release()
    except Refused as refused:
        await refused.send(context)
