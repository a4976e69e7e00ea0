"""Commands to silos: durable rows in the store, and wake-ups for their streams.

:class:`Commands` stores a command for each silo (audited), lists a silo's
pending ones and records its acknowledgements. The commands to deliver live
in the store only; process memory holds the open streams, nothing else.

The :class:`CommandHub` keeps one :class:`CommandStream` per silo, the one
open now: a stream opened by a silo that already holds one replaces it (the
old one is told it was superseded and ends), so a silo that reconnects after
a network cut is never refused because its dead stream has not timed out
yet. :meth:`CommandHub.notify` may be called from any thread; it wakes the
streams on their event loop, so a stream costs no thread while it waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aggregator._audit import Audit
from aggregator.store import CommandRecord, Store
from fedgov.errors import ReportRejected

__all__ = ["CommandHub", "CommandStream", "Commands"]

log = logging.getLogger(__name__)


class CommandStream:
    """One open stream of a silo: woken when the silo may have new commands."""

    def __init__(self, silo: str) -> None:
        self.silo = silo
        self.superseded = False  # a newer stream of the same silo took over
        self.closed = False  # the server is stopping
        self.sent: set[str] = set()  # command ids already sent on this stream
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self.superseded or self.closed

    def wake(self) -> None:
        """Thread-safe: the stream looks at the store again soon."""
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: the stream is gone with it
            pass

    def rearm(self) -> None:
        """Forget earlier wake-ups; call before reading the store, so none is lost."""
        self._event.clear()

    async def wait(self) -> None:
        """Until woken (by a send, the sweep, a newer stream or the server stopping)."""
        await self._event.wait()


class CommandHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, CommandStream] = {}
        self._closed = False

    def open(self, silo: str) -> CommandStream:
        """Register a new stream for ``silo`` (on the server's loop); an older one ends."""
        stream = CommandStream(silo)
        with self._lock:
            stream.closed = self._closed
            old = self._open.get(silo)
            self._open[silo] = stream
        if old is not None:
            log.info("command stream of %s replaced by a new one", silo)
            old.superseded = True
            old.wake()
        return stream

    def release(self, stream: CommandStream) -> None:
        """The stream has ended; forget it unless a newer one has taken its place."""
        with self._lock:
            if self._open.get(stream.silo) is stream:
                del self._open[stream.silo]

    def notify(self, silos: Iterable[str]) -> None:
        with self._lock:
            streams = [self._open[s] for s in silos if s in self._open]
        for stream in streams:
            stream.wake()

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        with self._lock:
            self._closed = True
            streams = list(self._open.values())
        for stream in streams:
            stream.closed = True
            stream.wake()

    @property
    def closed(self) -> bool:
        return self._closed

    def open_streams(self) -> int:
        with self._lock:
            return len(self._open)


@dataclass(eq=False)
class Commands:
    _store: Store
    _hub: CommandHub
    _audit: Audit

    def send(
        self, job_id: str, kind: str, silos: Sequence[str], reason: str, payload: dict[str, Any]
    ) -> list[CommandRecord]:
        """Store one command per silo under the job, then wake their streams."""
        cmds = self._store.add_commands(job_id, kind, silos, reason, json.dumps(payload))
        self._audit("commands_sent", job_id=job_id, command=kind, silos=list(silos))
        self._hub.notify(silos)
        return cmds

    def pending(self, silo_id: str) -> list[CommandRecord]:
        return self._store.pending_commands(silo_id)

    def wake_waiting(self) -> int:
        """Wake the open streams of silos with pending commands; how many silos had some.

        One store read for all streams: commands written by another aggregator process
        sharing the store reach their silo's stream here, and a stream otherwise only
        waits (10,000 streams each re-reading the store would be a read per few ms).
        """
        silos = self._store.silos_with_pending_commands()
        self._hub.notify(silos)
        return len(silos)

    def ack(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        if status not in ("accepted", "rejected"):
            raise ReportRejected(f"command ack status must be accepted or rejected, got {status!r}")
        ok = self._store.ack_command(command_id, silo_id, status, message)
        self._audit("command_ack", command_id=command_id, silo=silo_id, status=status, recorded=ok)
        if ok:
            log.info("silo %s %s command %s", silo_id, status, command_id)
        return ok
