"""Aggregator replicas on one PostgreSQL store under mTLS: real processes (``fedgov
aggregator serve``) that a test can kill hard (SIGKILL) or stop (SIGTERM), or servers in
this process whose parts a test can reach."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from agent.config import config_from_dict
from agent.service import Agent
from aggregator.replicas import ReplicaSettings
from aggregator.server import RunningServer, create_server
from aggregator.store import PostgresStore
from fedgov.audit import AuditLog, verify_chain
from fedgov.tls import TlsFiles
from support.agents import silo_config

__all__ = [
    "ReplicaProcess",
    "audit_records",
    "mtls_agent",
    "replica_processes",
    "replica_server",
    "wait_for",
]

_PORT = re.compile(r"aggregator listening on port (\d+)")


class ReplicaProcess:
    """One ``fedgov aggregator serve --replica NAME`` process; its stderr is kept."""

    def __init__(self, name: str, db: str, pki: Path, folder: Path, *extra: str) -> None:
        self.name = name
        self.audit = folder / f"{name}.audit.jsonl"
        cmd = [
            sys.executable, "-m", "fedgov", "aggregator", "serve", "--db", db,
            "--tls-dir", str(pki), "--listen", "127.0.0.1:0", "--replica", name,
            "--audit", str(self.audit), "--checkpoint-key", str(folder / f"{name}.key"),
            "--no-secure-rounds", *extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )
        self.log: list[str] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        found = _PORT.search(line)
        if found is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise RuntimeError(f"replica {name} did not start: {line!r} {''.join(self.log)}")
        self.port = int(found.group(1))
        self.address = f"127.0.0.1:{self.port}"

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def kill(self) -> None:
        """Stopped hard: no graceful shutdown, streams and calls cut mid-way."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@contextmanager
def replica_processes(
    names: Sequence[str], db: str, pki: Path, folder: Path, *extra: str
) -> Iterator[list[ReplicaProcess]]:
    """Start one replica per name (in order), all on ``db``; stop them all after."""
    with ExitStack() as stack:
        replicas = []
        for name in names:
            r = ReplicaProcess(name, db, pki, folder, *extra)
            stack.callback(r.stop)
            replicas.append(r)
        yield replicas


@contextmanager
def replica_server(
    url: str, pki: Path, folder: Path, name: str, **replica: Any
) -> Iterator[RunningServer]:
    """A replica in this process (``create_server`` on port 0, mTLS from ``pki``) on the
    PostgreSQL store at ``url``, its audit log ``folder/NAME.audit.jsonl``; ``replica``
    goes to :class:`ReplicaSettings` (its name is made unique per test run, so that its
    listener's connection can be told apart)."""
    settings = ReplicaSettings(f"{name}-{uuid.uuid4().hex[:8]}", **replica)
    running = create_server(
        "127.0.0.1:0",
        PostgresStore(url),
        tls=TlsFiles(pki / "ca.pem", pki / "aggregator.pem", pki / "aggregator.key"),
        audit=AuditLog(folder / f"{name}.audit.jsonl"),
        replica=settings,
    )
    try:
        yield running
    finally:
        running.stop(grace=0.5)
        running.handler.store.close()


def wait_for(what: str, ok: Callable[[], bool], timeout: float = 60.0) -> None:
    """Until ``ok()`` holds; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def audit_records(path: Path) -> list[dict[str, Any]]:
    """The records of a replica's audit log, whose chain must verify."""
    assert verify_chain(path).ok, path
    return [json.loads(line) for line in path.read_text().splitlines()]


def mtls_agent(
    root: Path, pki: Path, spec_file: Path, silo: str, aggregator: dict[str, Any], **kw: Any
) -> Agent:
    """A real agent of ``silo`` under ``root`` (input ``root/silo/in``, made here) with its
    certificate from ``pki``; ``aggregator`` is its section without ``tls``."""
    tls = {"ca": str(pki / "ca.pem"), "cert": str(pki / f"{silo}.pem")}
    tls["key"] = str(pki / f"{silo}.key")
    doc = silo_config(root, silo, spec_file, "unused:1", **kw)
    doc["aggregator"] = aggregator | {"tls": tls}
    (root / silo / "in").mkdir(parents=True, exist_ok=True)
    return Agent(config_from_dict(doc, base=root))
