"""Building and running the aggregator's gRPC server (``grpc.aio``).

The server runs on an asyncio event loop in a thread of its own, started by
:func:`create_server`, so callers (the CLI, tests, benchmarks) keep a plain
synchronous handle: :class:`RunningServer` with its port and ``stop()``.
Blocking work runs on a bounded pool of worker threads (``max_workers``);
calls in flight are capped per caller and per RPC (:mod:`aggregator.limits`),
and silent peers are pinged and dropped (:class:`aggregator.limits.Keepalive`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Coroutine
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from aggregator._service import add_service
from aggregator.central import CentralGate
from aggregator.exporter import AggregatorMetrics
from aggregator.handler import AggregatorHandler
from aggregator.limits import Admission, CallLimits, Keepalive
from aggregator.replicas import ReplicaSettings
from aggregator.retrain import TrainingSettings
from aggregator.servicer import AggregatorServicer
from aggregator.silo_commands import CommandHub
from aggregator.store import CommandListener, Store
from fedgov.audit import AuditLog
from fedgov.checkpoints import CheckpointKey
from fedgov.errors import ConfigError
from fedgov.tls import TlsFiles, server_credentials
from fedgov.wire.channel import MAX_MESSAGE_BYTES  # one limit for both ends of a connection

__all__ = [
    "MAX_MESSAGE_BYTES",
    "RunningServer",
    "create_server",
    "serve_forever",
    "wait_for_signal",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_NAME = "fedgov.v1.Aggregator"
# gRPC sets SO_REUSEPORT by default: a second aggregator on a busy port would start
# and share the calls with the first, instead of failing. One server per port.
_EXCLUSIVE_PORT = [("grpc.so_reuseport", 0)]


class _LoopThread:
    """An asyncio event loop running in a daemon thread, for one server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="fedgov-agg-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    handler: AggregatorHandler
    health: health.aio.HealthServicer
    health_server: grpc.aio.Server | None = None
    servicer: AggregatorServicer | None = None
    listener: CommandListener | None = None  # PostgreSQL: wakes streams for other replicas
    _loop: _LoopThread | None = field(default=None, repr=False)

    def stop(self, grace: float | None = 5.0) -> None:
        """Stop taking calls, end command streams, let in-flight calls finish."""
        loop = self._loop
        if loop is None:
            return  # already stopped
        self._loop = None
        if self.listener is not None:
            self.listener.close()
        loop.run(self._stop(grace))
        loop.close()
        if self.servicer is not None:
            self.servicer.pool.shutdown(wait=True)
            self.servicer.ingest_lane.shutdown(wait=True)
        if self.handler.coordinator is not None:
            self.handler.coordinator.close()

    async def _stop(self, grace: float | None) -> None:
        await self.health.enter_graceful_shutdown()
        self.handler.hub.close()
        await self.server.stop(grace)
        if self.servicer is not None:
            await self.servicer.stop_sweep()
        if self.health_server is not None:
            await self.health_server.stop(None)


def create_server(
    address: str,
    store: Store,
    *,
    max_workers: int = 64,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    central: CentralGate | None = None,
    tls: TlsFiles | None = None,
    audit: AuditLog | None = None,
    checkpoint_key: CheckpointKey | None = None,
    registry: CollectorRegistry | None = None,
    health_address: str | None = None,
    training: TrainingSettings | None = None,
    cooldown_s: float = 0.0,
    limits: CallLimits | None = None,
    keepalive: Keepalive | None = None,
    replica: ReplicaSettings | None = None,
) -> RunningServer:
    """Build and start a server; ``address`` may use port 0 (the bound port is returned).

    With ``tls`` every client must present a certificate from the CA, and a
    silo may only register, report and receive commands as the silo its
    certificate names. Without it (``--insecure``) identities are not checked.
    With ``audit`` and ``checkpoint_key`` every acknowledgement carries a signed
    checkpoint of the audit log (:mod:`aggregator.anchors`).
    ``max_workers`` threads do the blocking work of calls; ``limits`` caps the
    calls in flight, ``keepalive`` says when a silent peer is dropped.
    ``replica``: this aggregator among several on one PostgreSQL store
    (:mod:`aggregator.replicas`): how often it reads the store for commands, and
    where it listens for them.
    """
    replica = replica or ReplicaSettings()
    if checkpoint_key is not None:
        owner = store.claim_key(checkpoint_key.key_id, replica.name)
        if owner != replica.name:
            raise ConfigError(
                f"checkpoint key {checkpoint_key.key_id} signs the audit chain of replica "
                f"{owner!r}; each replica keeps its own chain and key: give replica "
                f"{replica.name!r} its own --checkpoint-key (or run it as --replica {owner})"
            )
    handler = AggregatorHandler(store, CommandHub(), central, audit, checkpoint_key)
    handler.cooldown_ms = int(cooldown_s * 1000)
    if training is not None:
        handler.start_retraining(training)
    servicer = AggregatorServicer(
        handler,
        require_identity=tls is not None,
        metrics=AggregatorMetrics(registry or CollectorRegistry(), store=store),
        admission=Admission(limits or CallLimits()),
        pool=futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fedgov-agg"),
    )
    servicer.recheck_s = replica.command_poll_s
    if tls is None:
        log.warning("aggregator serving WITHOUT TLS: silo identities are not authenticated")
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        *(keepalive or Keepalive()).options(),
        *servicer.admission.limits.options(),
        *_EXCLUSIVE_PORT,
    ]
    loop = _LoopThread()
    try:
        running = loop.run(
            _start(address, servicer, options, tls, health_address),
        )
    except BaseException:
        loop.close()
        servicer.pool.shutdown(wait=False)
        servicer.ingest_lane.shutdown(wait=False)
        if handler.coordinator is not None:
            handler.coordinator.close()
        raise
    running._loop = loop
    running.listener = store.command_listener(
        handler.hub.notify,
        handler.commands.wake_waiting,
        name=f"fedgov-listen-{replica.name}",
        url=replica.listen_url,
    )
    if running.listener is not None:
        running.listener.start()
    log.info("aggregator listening on port %d (replica %s)", running.port, replica.name)
    return running


async def _start(
    address: str,
    servicer: AggregatorServicer,
    options: list[tuple[str, Any]],
    tls: TlsFiles | None,
    health_address: str | None,
) -> RunningServer:
    """Bind and start the server (and the plaintext health port) on the running loop."""
    server = grpc.aio.server(options=options)
    add_service(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = _listen(
        server,
        address,
        None if tls is None else server_credentials(tls),
        f"cannot listen on {address}: the address is in use or invalid; "
        "pick another --listen HOST:PORT (port 0 takes any free one)",
    )
    health_server = None
    if health_address:
        # Kubelet gRPC probes cannot present a client certificate: a plaintext
        # port that serves nothing but grpc.health.v1.
        health_server = grpc.aio.server(options=_EXCLUSIVE_PORT)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        _listen(
            health_server,
            health_address,
            None,
            f"cannot listen on {health_address} for health checks: "
            "the address is in use or invalid",
        )
        await health_server.start()
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, servicer.handler, health_servicer, health_server, servicer)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (a long-running verb's main thread)."""
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()


def serve_forever(running: RunningServer) -> None:
    """Block until SIGTERM or SIGINT, then stop gracefully."""
    wait_for_signal()
    running.stop()
    running.handler.store.close()


def _listen(
    server: grpc.aio.Server, address: str, creds: grpc.ServerCredentials | None, refused: str
) -> int:
    """Bind ``address`` (plaintext without ``creds``); ConfigError ``refused`` if it cannot."""
    try:
        if creds is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, creds)
    except RuntimeError:
        port = 0  # gRPC's message adds only "set GRPC_VERBOSITY=debug"
    if port == 0:
        raise ConfigError(refused)
    return int(port)
