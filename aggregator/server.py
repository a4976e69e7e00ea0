"""Building and running the aggregator's gRPC server."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from aggregator.central import CentralGate
from aggregator.exporter import AggregatorMetrics
from aggregator.handler import AggregatorHandler
from aggregator.retrain import TrainingSettings
from aggregator.servicer import AggregatorServicer
from aggregator.silo_commands import CommandHub
from aggregator.store import Store
from fedgov.audit import AuditLog
from fedgov.checkpoints import CheckpointKey
from fedgov.errors import ConfigError
from fedgov.tls import TlsFiles, server_credentials
from fedgov.v1 import aggregator_pb2_grpc

__all__ = ["MAX_MESSAGE_BYTES", "RunningServer", "create_server", "serve_forever"]

log = logging.getLogger(__name__)

SERVICE_NAME = "fedgov.v1.Aggregator"
MAX_MESSAGE_BYTES = 8 << 20  # a report is counts, not rows: 8 MiB is generous
# gRPC sets SO_REUSEPORT by default: a second aggregator on a busy port would start
# and share the calls with the first, instead of failing. One server per port.
_EXCLUSIVE_PORT = [("grpc.so_reuseport", 0)]


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    handler: AggregatorHandler
    health: health.HealthServicer
    health_server: grpc.Server | None = None

    def stop(self, grace: float | None = 5.0) -> None:
        """Stop taking calls, wake command streams, let in-flight calls finish."""
        self.health.enter_graceful_shutdown()
        self.handler.hub.close()
        self.server.stop(grace).wait()
        if self.handler.coordinator is not None:
            self.handler.coordinator.close()
        if self.health_server is not None:
            self.health_server.stop(None)


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
) -> RunningServer:
    """Build and start a server; ``address`` may use port 0 (the bound port is returned).

    With ``tls`` every client must present a certificate from the CA, and a
    silo may only register, report and receive commands as the silo its
    certificate names. Without it (``--insecure``) identities are not checked.
    With ``audit`` and ``checkpoint_key`` every acknowledgement carries a signed
    checkpoint of the audit log (:mod:`aggregator.anchors`).
    """
    handler = AggregatorHandler(store, CommandHub(), central, audit, checkpoint_key)
    handler.cooldown_ms = int(cooldown_s * 1000)
    if training is not None:
        handler.start_retraining(training)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fedgov-agg"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            *_EXCLUSIVE_PORT,
        ],
    )
    aggregator_pb2_grpc.add_AggregatorServicer_to_server(
        AggregatorServicer(
            handler,
            require_identity=tls is not None,
            metrics=AggregatorMetrics(registry or CollectorRegistry(), store=store),
        ),
        server,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if tls is None:
        log.warning("aggregator serving WITHOUT TLS: silo identities are not authenticated")
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
        health_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2), options=_EXCLUSIVE_PORT
        )
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        _listen(
            health_server,
            health_address,
            None,
            f"cannot listen on {health_address} for health checks: "
            "the address is in use or invalid",
        )
        health_server.start()
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("aggregator listening on port %d", port)
    return RunningServer(server, port, handler, health_servicer, health_server)


def serve_forever(running: RunningServer) -> None:
    """Block until SIGTERM or SIGINT, then stop gracefully."""
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    running.stop()
    running.handler.store.close()


def _listen(
    server: grpc.Server, address: str, creds: grpc.ServerCredentials | None, refused: str
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
