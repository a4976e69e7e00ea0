"""The silo agent: watch input folders, report each new window, obey commands.

One :class:`Agent` per silo. :meth:`Agent.run` is the main loop: reload the
policy bundle if it changed (:mod:`agent.policy_reload`), report every new
window (:mod:`agent.windows`, :mod:`agent.pipeline`), send what waits in the
outbox; a thread keeps the command stream open (:mod:`agent.silo_commands`).
Everything that must survive a restart is in :mod:`agent.state`; the audit
log is its own hash-chained file.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, start_http_server

from agent.client import AggregatorClient, Command
from agent.config import AgentConfig
from agent.exporter import AgentMetrics
from agent.outbox_drain import OutboxDrain
from agent.pipeline import build_window, decision_log_fields
from agent.policy_reload import PolicyReloader, load_engine
from agent.privacy import BudgetExhausted
from agent.round_ledger import RawWindow
from agent.secure_rounds import SecureRounds
from agent.silo_commands import SiloCommands
from agent.state import AgentState, Window
from agent.windows import ModelWatch, check_input, new_windows
from fedgov.audit import AuditLog
from fedgov.errors import DataError, GovernanceError
from fedgov.policy import PolicyEngine
from fedgov.report import Report, now_ms
from fedgov.spec import MonitoringSpec, load_spec
from fedgov.stats import WindowStats
from fedgov.wire.retry import Backoff

__all__ = ["Agent", "ModelWatch"]

log = logging.getLogger(__name__)


class Agent:
    """Everything one silo runs. Construction fails closed: a spec or policy
    bundle that does not load stops the agent before it reports anything."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        registry: CollectorRegistry | None = None,
        engine: PolicyEngine | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.models = tuple(ModelWatch(load_spec(m.spec), m.input) for m in config.models)
        for m in self.models:
            check_input(m)
        self.engine = engine or load_engine(config)
        self.registry = registry or CollectorRegistry()
        self.metrics = AgentMetrics(config.silo_id, config.jurisdiction, self.registry)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.audit = AuditLog(config.state_dir / "audit.jsonl")
        self._policy = PolicyReloader(config, self.audit, self.engine)
        self.audit.append("policy_loaded", bundle=str(config.policy), digest=self._policy.digest)
        self.state = AgentState(config.state_dir)
        self.outbox = self.state.outbox
        self.update_budget()
        self._stop = threading.Event()
        self.client = AggregatorClient(
            config.aggregator_address,
            backoff=backoff or Backoff(max_elapsed=config.retry_seconds),
            stop=self._stop,
            tls=config.tls,
        )
        if config.tls is None:
            log.warning("%s: talking to the aggregator WITHOUT TLS (insecure)", config.silo_id)
        self._metrics_server: Any = None
        self.metrics_port: int | None = None
        self.secure_rounds = SecureRounds(
            silo_id=config.silo_id,
            tls=config.tls,
            settings=config.secure_rounds,
            ledger=self.state.rounds,
            transport=self.client,
            audit=self.audit,
            outcomes=self.metrics.secure_rounds,
            served=lambda: {m.spec.model_id for m in self.models},
            stop=self._stop,
        )
        self.silo_commands = SiloCommands(self)
        self.drain = OutboxDrain(
            config.silo_id, lambda: self.client, self.state, self.audit, self.metrics
        )

    @property
    def received(self) -> list[Command]:
        """The commands received, in arrival order."""
        return self.silo_commands.received

    @property
    def received_at(self) -> dict[str, float]:
        """Command id -> when it first arrived (``time.monotonic()``)."""
        return self.silo_commands.received_at

    # -- lifecycle ---------------------------------------------------------------
    def start_metrics(self) -> int | None:
        if self.config.metrics_port is None:
            return None
        server, _thread = start_http_server(
            self.config.metrics_port, addr=self.config.metrics_address, registry=self.registry
        )
        self._metrics_server = server
        self.metrics_port = int(server.server_port)
        log.info("%s: /metrics on port %d", self.config.silo_id, self.metrics_port)
        return self.metrics_port

    def register(self) -> None:
        self.client.register(
            self.config.silo_id,
            self.config.jurisdiction,
            [m.spec for m in self.models],
            getattr(self.engine, "digest", ""),
        )
        log.info("%s registered with %s", self.config.silo_id, self.config.aggregator_address)

    def stop(self) -> None:
        self._stop.set()
        self.client.cancel_stream()

    def close(self) -> None:
        self.stop()
        self.silo_commands.stop_all()
        self.client.close()
        self.state.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()

    # -- reporting ---------------------------------------------------------------
    def scan_once(self, *, strict: bool = True) -> list[Report]:
        """Report every new window, then flush the outbox. Returns the new reports.

        A bad file raises when ``strict``; otherwise it is logged and skipped
        until it changes, so one broken window does not stop the others.
        """
        made: list[Report] = []
        processed = self.state.processed_windows()
        for watch in self.models:
            for path, window in new_windows(watch, processed):
                try:
                    with self.metrics.report_seconds.time():
                        report, raw = build_window(
                            watch.spec,
                            path,
                            self.engine,
                            silo_id=self.config.silo_id,
                            jurisdiction=self.config.jurisdiction,
                            chunk_rows=self.config.chunk_rows,
                            privacy=self.config.privacy,
                        )
                except DataError as exc:
                    if strict:
                        raise
                    log.error("%s: skipped until it changes: %s", path, exc)
                    self.state.mark_window(window)
                    continue
                self.audit.append(
                    "decision",
                    report_id=report.report_id,
                    model=report.model_id,
                    version=report.model_version,
                    input_digest=report.input_digest,
                    allow=report.decision.allow,
                    deny=list(report.decision.deny),
                    actions=list(report.decision.actions),
                    bundle_digest=report.decision.bundle_digest,
                    **decision_log_fields(watch.spec, report),  # OPA's decision-log fields
                )
                self._keep_raw(report, raw)  # kept even if the budget refuses the report
                # Durable before it is sent: privacy charged, outbox row, window marked,
                # chain advanced.
                try:
                    report = self.state.record_report(report, window, budget=self.budget)
                except BudgetExhausted as exc:
                    self._refused(path, window, report, exc)
                    continue
                self.update_budget()
                self.metrics.latest.update(report)
                made.append(report)
        self.flush_outbox()
        return made

    @property
    def budget(self) -> float | None:
        """The cumulative zCDP the silo may spend; None without DP noise (nothing charged)."""
        return self.config.budget if self.config.rho is not None else None

    def update_budget(self) -> None:
        if self.config.rho is not None:
            self.metrics.privacy_budget_remaining.set(
                max(0.0, self.config.budget - self.state.rho_spent())
            )

    def _refused(self, path: object, window: Window, report: Report, exc: BudgetExhausted) -> None:
        """The window's counts stay here: logged, audited, counted, marked done."""
        log.error("%s: %s: %s", self.config.silo_id, path, exc)
        self.metrics.privacy_refused.inc()
        self.audit.append(
            "privacy_budget_exhausted",
            report_id=report.report_id,
            model=report.model_id,
            version=report.model_version,
            rho=report.stats.privacy.rho,
            budget=self.config.budget,
        )
        self.state.mark_window(window)

    def _keep_raw(self, report: Report, raw: WindowStats) -> None:
        """Keep the window's unguarded counts for secure rounds (never sent); kept
        before the report, under its id, so a crash between the two never loses them
        and a window folded again replaces its row."""
        settings = self.config.secure_rounds
        if not settings.enabled:
            return
        window = RawWindow(
            report.report_id,
            report.model_id,
            report.model_version,
            report.spec_digest,
            report.window_start_ms,
            report.window_end_ms,
        )
        self.state.rounds.keep_window(window, raw, keep_days=settings.keep_days, now_ms=now_ms())

    def flush_outbox(self) -> int:
        """Send what waits in the outbox (:class:`agent.outbox_drain.OutboxDrain`)."""
        return self.drain.flush()

    # -- policy hot reload -------------------------------------------------------
    def reload_policy_if_changed(self) -> bool:
        """Swap in a changed bundle if it compiles; otherwise keep the serving one.

        Returns True when a new bundle was swapped in. A broken bundle is
        logged and audited once per distinct content, never swapped in.
        """
        engine = self._policy.changed_engine()
        if engine is None:
            return False
        old, self.engine = self.engine, engine
        if hasattr(old, "close"):
            old.close()
        return True

    # -- commands ----------------------------------------------------------------
    def handle_command(self, cmd: Command) -> None:
        self.silo_commands.handle(cmd)

    def switch_model(self, old: ModelWatch, spec: MonitoringSpec) -> None:
        """Monitor ``spec`` instead of ``old`` (same input) and register the change."""
        self.models = tuple(ModelWatch(spec, m.input) if m is old else m for m in self.models)
        self.register()

    def listen_commands(self) -> None:
        """Keep a command stream open until stopped, reconnecting with backoff."""
        delays = Backoff(max_elapsed=None).delays()
        while not self._stop.is_set():
            try:
                for cmd in self.client.commands(self.config.silo_id):
                    self.handle_command(cmd)
                    delays = Backoff(max_elapsed=None).delays()
            except grpc.RpcError as exc:
                if self._stop.is_set() or exc.code() == grpc.StatusCode.CANCELLED:
                    return
                delay = next(delays)
                log.warning(
                    "%s: command stream lost (%s); reconnecting in %.1fs",
                    self.config.silo_id,
                    exc.code().name,
                    delay,
                )
                self._stop.wait(delay)
            except GovernanceError as exc:
                log.error("%s: %s", self.config.silo_id, exc)
                self._stop.wait(1.0)

    def drain_commands(self, *, wait_seconds: float, idle_seconds: float = 2.0) -> int:
        """``--once``: handle the commands pending at the aggregator, then wait up to
        ``wait_seconds`` (in all) for the secure rounds they started. The stream is read
        until no command came for ``idle_seconds`` and no round runs. Returns how many
        commands were handled."""
        handled = 0
        last = time.monotonic()
        lock = threading.Lock()
        ended = threading.Event()

        def listen() -> None:
            nonlocal handled, last
            try:
                for cmd in self.client.commands(self.config.silo_id):
                    with lock:
                        last = float("inf")  # busy until handled
                    self.handle_command(cmd)
                    with lock:
                        handled, last = handled + 1, time.monotonic()
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    log.warning("%s: command stream: %s", self.config.silo_id, exc.code().name)
            except GovernanceError as exc:
                log.error("%s: %s", self.config.silo_id, exc)
            finally:
                ended.set()

        reader = threading.Thread(target=listen, name="fedgov-drain", daemon=True)
        reader.start()
        deadline = time.monotonic() + wait_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            with lock:
                quiet = time.monotonic() - last
            if (ended.is_set() or quiet >= idle_seconds) and not self.secure_rounds.busy():
                break
            self._stop.wait(0.1)
        else:
            if self.secure_rounds.busy():
                log.warning(
                    "%s: a secure round still runs after secure_rounds.wait_seconds (%gs); "
                    "leaving it",
                    self.config.silo_id,
                    wait_seconds,
                )
        self.client.cancel_stream()
        reader.join(timeout=5.0)
        return handled

    # -- the main loop -------------------------------------------------------------
    def run(self, *, once: bool = False) -> None:
        self.start_metrics()
        self.register()
        if once:
            self.scan_once()
            self.drain_commands(wait_seconds=self.config.secure_rounds.wait_seconds)
            return
        listener = threading.Thread(
            target=self.listen_commands, name="fedgov-commands", daemon=True
        )
        listener.start()
        while not self._stop.is_set():
            try:
                self.reload_policy_if_changed()
                self.scan_once(strict=False)
            except GovernanceError as exc:
                log.error("%s", exc)
            self._stop.wait(self.config.poll_seconds)
