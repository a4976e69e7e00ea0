"""Commands to silos: durable rows in the store, and wake-ups for their streams.

:class:`Commands` stores a command for each silo (audited), lists a silo's
pending ones and records its acknowledgements. The :class:`CommandHub` only
tells an open stream that a silo has something new, so streams block on a
condition instead of polling.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from aggregator._audit import Audit
from aggregator.store import CommandRecord, Store
from fedgov.errors import ReportRejected

__all__ = ["CommandHub", "Commands"]

log = logging.getLogger(__name__)


class CommandHub:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version: dict[str, int] = defaultdict(int)
        self._closed = False

    def notify(self, silos: Iterable[str]) -> None:
        with self._cond:
            for s in silos:
                self._version[s] += 1
            self._cond.notify_all()

    def version(self, silo: str) -> int:
        with self._cond:
            return self._version[silo]

    def wait(self, silo: str, seen: int, timeout: float | None = None) -> int:
        """Block until the silo's version moves past ``seen``, the hub closes, or timeout."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or self._version[silo] != seen, timeout=timeout
            )
            return self._version[silo]

    def wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class Commands:
    def __init__(self, store: Store, hub: CommandHub, audit: Audit) -> None:
        self._store = store
        self._hub = hub
        self._audit = audit

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

    def ack(self, command_id: str, silo_id: str, status: str, message: str) -> bool:
        if status not in ("accepted", "rejected"):
            raise ReportRejected(f"command ack status must be accepted or rejected, got {status!r}")
        ok = self._store.ack_command(command_id, silo_id, status, message)
        self._audit("command_ack", command_id=command_id, silo=silo_id, status=status, recorded=ok)
        if ok:
            log.info("silo %s %s command %s", silo_id, status, command_id)
        return ok
