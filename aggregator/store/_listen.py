"""Listening for new commands on PostgreSQL (``LISTEN fedgov_commands``).

Storing a command sends ``NOTIFY fedgov_commands, '<silo>'`` in the same
transaction (:mod:`aggregator.store._jobs`), delivered on commit to every
aggregator listening. A :class:`CommandListener` holds one connection of its
own (outside the pool: a pooled connection would lose its LISTEN when handed
back), and calls ``on_silos`` with each silo named.

A notification is a hint, never the command: one sent while the listener is
disconnected is lost. So after every (re)connection, once ``LISTEN`` holds,
it calls ``on_connect`` (the aggregator then reads the store for every silo
with pending commands), and the aggregator also reads the store at a bounded
interval whatever it hears (:mod:`aggregator.replicas`), which covers a
connection that went silent without breaking.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import psycopg

from aggregator.store._dialect import COMMANDS_CHANNEL

__all__ = ["CommandListener"]

log = logging.getLogger(__name__)

RETRY_S = (0.2, 5.0)  # reconnect after this long, doubling up to the second


class CommandListener:
    """A thread that hears which silos have new commands; :meth:`close` ends it."""

    def __init__(
        self,
        url: str,
        on_silos: Callable[[Iterable[str]], object],
        on_connect: Callable[[], object],
        *,
        name: str,
    ) -> None:
        self._url = url
        self._on_silos = on_silos
        self._on_connect = on_connect
        self.name = name  # its connection's application_name, fedgov-listen-<replica>
        self.connected = threading.Event()  # LISTEN holds (and the store was read since)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = RETRY_S[0]
        while not self._stop.is_set():
            try:
                self._listen()
                delay = RETRY_S[0]
            except psycopg.Error as exc:
                log.warning(
                    "%s: listening for commands failed (%s); the store is still read "
                    "for them at the polling interval; reconnecting in %.1f s",
                    self.name,
                    " ".join(str(exc).split()) or type(exc).__name__,
                    delay,
                )
            except Exception:  # noqa: BLE001 - a wake-up failing must not end the thread
                log.exception("%s: handling a command notification failed", self.name)
            finally:
                self.connected.clear()
            self._stop.wait(delay)
            delay = min(RETRY_S[1], delay * 2)

    def _listen(self) -> None:
        with psycopg.connect(
            self._url, autocommit=True, connect_timeout=10, application_name=self.name
        ) as conn:
            conn.execute(f"LISTEN {COMMANDS_CHANNEL}")
            # Anything committed from here on is notified; anything before, read now.
            self._on_connect()
            self.connected.set()
            while not self._stop.is_set():
                silos = {n.payload for n in conn.notifies(timeout=1.0)}
                if silos:
                    self._on_silos(silos)
