"""Several aggregators (replicas) on one PostgreSQL store, and why SQLite has one.

Every replica serves any silo: all state that must be shared lives in the store
(DESIGN.md, "State"), so what a replica adds is how it hears of work that
another one stored:

* **Commands.** The store is the queue: a command is a row, stored by whichever
  replica decided it. The replica that holds the silo's command stream learns
  of it in two ways. PostgreSQL's ``NOTIFY`` wakes it at once
  (:class:`aggregator.store.CommandListener`, one connection per replica); and
  whatever it hears, it reads the store every ``command_poll_s`` (jittered) for
  silos with pending commands (the sweep of :mod:`aggregator.servicer`). A
  notification lost while the listener was disconnected, or on a connection
  that went silent, delays the command by one poll at most, never loses it;
  after a reconnection the store is read at once. Delivery and acks are as
  before: a pending command is sent on each new stream of its silo, and only
  the first ack of it counts (``UPDATE ... WHERE status='pending'``).
* **Jobs** stay single-flight: ``open_job`` holds an advisory lock per
  (model, version) (:mod:`aggregator.store._jobs`). A job is run (Flower) by
  the replica that opened it, with its own SuperLink; if that replica dies
  mid-job the job stays open and absorbs new triggers (not handled yet: jobs
  have no lease; ``fedgov jobs`` shows it, as after a single aggregator's crash).
* **Secure rounds** live in the store (round, stage, messages, deadline); any
  replica moves a round on when a silo submits or polls, or when its sweep
  ticks. The sum is formed by the replica that closed stage 4, which renews its
  claim while it works; if it dies, the claim runs out (one stage timeout) and
  the next replica to look takes it over once and forms the sum from the stored
  messages (audited ``round_taken_over``). If that one dies too the round fails,
  audited, its messages deleted, nothing published; of two replicas forming the
  same sum only one publishes (``end_round`` ends an open round once).
* **Audit**: one hash chain per replica. Each replica appends to its own log
  file (``--audit``) and signs checkpoints of it with its own key
  (``--checkpoint-key``); checkpoints are stored per key, so two replicas never
  claim the same (key, seq). A replica refuses to start with a key that another
  replica name already used (``replica_keys`` in the store, checked by
  :func:`aggregator.server.create_server`). ``fedgov audit verify`` checks each
  replica's log against the checkpoints of that replica's key.
* **Call limits** (:mod:`aggregator.limits`) are counted per replica: they
  protect one process's workers and event loop, which is what they are for.
  A silo's agent talks to one replica at a time (``pick_first``), so its calls
  in flight stay within its per-caller caps federation-wide; a silo that opens
  streams on N replicas at once holds at most N x ``stream_per_caller``.

SQLite holds one aggregator: its wake-ups are in-process, and a second process
writing the file would wait on its lock. :func:`hold_sqlite` takes an exclusive
lock beside the database for as long as the aggregator serves it, so a second
``fedgov aggregator serve`` on the same file stops with a clear error.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fedgov.errors import ConfigError

__all__ = ["COMMAND_POLL_S", "ReplicaSettings", "hold_sqlite"]

# How often a replica reads the store for commands stored by another (seconds; the
# floor under NOTIFY). Commands sent through the replica itself wake their stream at once.
COMMAND_POLL_S = 60.0


@dataclass(frozen=True)
class ReplicaSettings:
    """``name``: this replica (its listener's application_name, its log lines);
    ``command_poll_s``: the store is read at least this often for commands;
    ``listen_url``: where to LISTEN, if not the store's URL (a LISTEN needs a
    session of its own, so not through a transaction-pooling proxy)."""

    name: str = "aggregator"
    command_poll_s: float = COMMAND_POLL_S
    listen_url: str | None = None

    def __post_init__(self) -> None:
        if not self.command_poll_s > 0:
            raise ConfigError(
                f"command polling interval must be positive, got {self.command_poll_s}"
            )


def hold_sqlite(db: str | Path) -> IO[str]:
    """Lock ``DB.serve.lock`` for this process (released when it exits or closes the file);
    ConfigError if another aggregator holds it."""
    path = Path(f"{db}.serve.lock")
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise ConfigError(
            f"{db}: already served by another aggregator ({holder}); a SQLite store holds "
            "one aggregator. Stop that one, or run several replicas on PostgreSQL "
            "(--db postgresql://...)"
        ) from None
    fh.truncate(0)
    fh.write(f"pid {os.getpid()}\n")
    fh.flush()
    return fh
