"""The silo agent: watch input folders, report each new window, obey commands."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, start_http_server

from agent.client import AggregatorClient, Command
from agent.config import AgentConfig
from agent.exporter import AgentMetrics
from agent.outbox import Outbox
from agent.pipeline import build_report
from fedgov.audit import AuditLog
from fedgov.data import DATA_SUFFIXES
from fedgov.errors import ConfigError, DataError, GovernanceError, PolicyError
from fedgov.policy import PolicyEngine, RegoEngine, load_bundle
from fedgov.report import Report, now_ms
from fedgov.spec import MonitoringSpec, load_spec
from fedgov.wire.retry import Backoff

__all__ = ["Agent", "ModelWatch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelWatch:
    spec: MonitoringSpec
    input: Path


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
            if not m.input.exists():
                raise ConfigError(f"{m.input}: input folder or file does not exist")
        self.engine = engine or self._load_engine()
        self.registry = registry or CollectorRegistry()
        self.metrics = AgentMetrics(config.silo_id, config.jurisdiction, self.registry)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.audit = AuditLog(config.state_dir / "audit.jsonl")
        self._policy_digest = getattr(self.engine, "digest", "")
        self._rejected_digest = ""
        self.audit.append("policy_loaded", bundle=str(config.policy), digest=self._policy_digest)
        self.outbox = Outbox(config.state_dir / "outbox.db")
        self._ledger_path = config.state_dir / "processed.json"
        self._ledger: dict[str, str] = (
            json.loads(self._ledger_path.read_text()) if self._ledger_path.exists() else {}
        )
        self._chain_path = config.state_dir / "chain.json"
        self._chain: dict[str, str] = (
            json.loads(self._chain_path.read_text()) if self._chain_path.exists() else {}
        )
        self._commands_path = config.state_dir / "commands.jsonl"
        self._acked = self._load_acked()
        self._stop = threading.Event()
        self.client = AggregatorClient(
            config.aggregator_address,
            backoff=backoff or Backoff(max_elapsed=config.retry_seconds),
            stop=self._stop,
            tls=config.tls,
        )
        if config.tls is None:
            log.warning("%s: talking to the aggregator WITHOUT TLS (insecure)", config.silo_id)
        self._metrics_server: object | None = None
        self.metrics_port: int | None = None
        self.received: list[Command] = []
        self._supernodes: dict[str, Any] = {}
        self.received_at: dict[str, float] = {}
        self.sent_at: dict[str, float] = {}  # report id -> when its submission started

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
        for job_id in list(self._supernodes):
            self._stop_supernode(job_id)
        self.client.close()
        self.outbox.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
            self._metrics_server.server_close()  # type: ignore[attr-defined]

    # -- reporting ---------------------------------------------------------------
    def _new_files(self, watch: ModelWatch) -> list[Path]:
        if watch.input.is_file():
            candidates = [watch.input]
        else:
            candidates = sorted(
                p for p in watch.input.iterdir() if p.suffix.lower() in DATA_SUFFIXES
            )
        out = []
        for p in candidates:
            st = p.stat()
            key = f"{watch.spec.model_id}:{p.resolve()}"  # a promoted version keeps the ledger
            if self._ledger.get(key) != f"{st.st_size}:{st.st_mtime_ns}":
                out.append(p)
        return out

    def _mark(self, watch: ModelWatch, path: Path) -> None:
        st = path.stat()
        self._ledger[f"{watch.spec.model_id}:{path.resolve()}"] = f"{st.st_size}:{st.st_mtime_ns}"
        tmp = self._ledger_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._ledger, indent=1))
        tmp.replace(self._ledger_path)

    def scan_once(self, *, strict: bool = True) -> list[Report]:
        """Report every new window, then flush the outbox. Returns the new reports.

        A bad file raises when ``strict``; otherwise it is logged and skipped
        until it changes, so one broken window does not stop the others.
        """
        made: list[Report] = []
        for watch in self.models:
            for path in self._new_files(watch):
                try:
                    with self.metrics.report_seconds.time():
                        report = build_report(
                            watch.spec,
                            path,
                            self.engine,
                            silo_id=self.config.silo_id,
                            jurisdiction=self.config.jurisdiction,
                            chunk_rows=self.config.chunk_rows,
                            min_cell_count=self.config.min_cell_count,
                            epsilon=self.config.epsilon,
                            complementary=self.config.complementary,
                        )
                except DataError as exc:
                    if strict:
                        raise
                    log.error("%s: skipped until it changes: %s", path, exc)
                    self._mark(watch, path)
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
                )
                report = self._link(report)
                self.outbox.put(report)  # durable before it is marked or sent
                self._advance(report)
                self._mark(watch, path)
                self.metrics.latest.update(report)
                made.append(report)
        self.flush_outbox()
        return made

    def flush_outbox(self) -> int:
        sent = 0
        pending = self.outbox.pending()
        self.metrics.outbox.set(len(pending))
        for report in pending:
            self.sent_at.setdefault(report.report_id, time.monotonic())
            try:
                with self.metrics.submit_seconds.time():
                    duplicate = self.client.submit(report)
            except GovernanceError:
                self.metrics.reports_failed.inc()
                raise
            self.audit.append("report_sent", report_id=report.report_id, duplicate=duplicate)
            self.outbox.remove(report.report_id)
            self.metrics.reports_sent.inc()
            self.metrics.outbox.dec()
            sent += 1
            log.info(
                "%s: report %s acknowledged%s",
                self.config.silo_id,
                report.report_id,
                " (already stored)" if duplicate else "",
            )
        return sent

    # -- policy hot reload -------------------------------------------------------
    def _load_engine(self) -> PolicyEngine:
        """Embedded Rego by default; an OPA sidecar when ``opa_url`` is configured."""
        if self.config.opa_url:
            from fedgov.policy import OpaEngine

            return OpaEngine.from_bundle(self.config.policy, url=self.config.opa_url)
        return RegoEngine.from_bundle(self.config.policy)

    def reload_policy_if_changed(self) -> bool:
        """Swap in a changed bundle if it compiles; otherwise keep the serving one.

        Returns True when a new bundle was swapped in. A broken bundle is
        logged and audited once per distinct content, never swapped in.
        """
        try:
            digest = load_bundle(self.config.policy).digest
        except PolicyError as exc:
            digest = f"unreadable:{exc}"
        if digest in (self._policy_digest, self._rejected_digest):
            return False
        try:
            engine = self._load_engine()
        except PolicyError as exc:
            self._rejected_digest = digest
            log.error(
                "%s: new policy bundle rejected, still serving %s: %s",
                self.config.silo_id,
                self._policy_digest[:19],
                exc,
            )
            self.audit.append(
                "policy_rejected",
                bundle=str(self.config.policy),
                error=str(exc),
                serving=self._policy_digest,
            )
            return False
        previous, old, self.engine = self._policy_digest, self.engine, engine
        self._policy_digest, self._rejected_digest = engine.digest, ""
        if hasattr(old, "close"):
            old.close()
        log.warning(
            "%s: policy bundle reloaded: %s -> %s",
            self.config.silo_id,
            previous[:19],
            engine.digest[:19],
        )
        self.audit.append("policy_reloaded", previous=previous, digest=engine.digest)
        return True

    # -- report chain --------------------------------------------------------------
    def _link(self, report: Report) -> Report:
        """Carry the hash of this silo's previous report of the same model version."""
        import dataclasses

        key = f"{report.model_id}/{report.model_version}"
        if self._chain.get(key + "#id") == report.report_id:
            # The same window again (a crash after linking it): same link, same report.
            return dataclasses.replace(report, prev_report_hash=self._chain[key + "#prev"])
        return dataclasses.replace(report, prev_report_hash=self._chain.get(key, ""))

    def _advance(self, report: Report) -> None:
        from fedgov.report import chain_hash

        key = f"{report.model_id}/{report.model_version}"
        self._chain[key] = chain_hash(report)
        self._chain[key + "#id"] = report.report_id
        self._chain[key + "#prev"] = report.prev_report_hash
        tmp = self._chain_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._chain, indent=1))
        tmp.replace(self._chain_path)

    # -- commands ----------------------------------------------------------------
    def _load_acked(self) -> set[str]:
        if not self._commands_path.exists():
            return set()
        acked = set()
        for line in self._commands_path.read_text().splitlines():
            if line.strip():
                acked.add(json.loads(line)["command_id"])
        return acked

    def handle_command(self, cmd: Command) -> None:
        self.received_at.setdefault(cmd.command_id, time.monotonic())
        self.metrics.commands.labels(cmd.kind).inc()
        if cmd.command_id in self._acked:
            status, message = "accepted", "already acknowledged"
        elif cmd.kind == "retrain":
            served = any(
                m.spec.model_id == cmd.model_id and m.spec.model_version == cmd.model_version
                for m in self.models
            )
            status = "accepted" if served else "rejected"
            message = (
                "retraining acknowledged; waiting to join the Flower run"
                if served
                else f"this silo does not serve {cmd.model_id}/{cmd.model_version}"
            )
        elif cmd.kind in ("join_training", "evaluate", "promote"):
            try:
                message = getattr(self, f"_on_{cmd.kind}")(cmd, json.loads(cmd.payload or "{}"))
                status = "accepted"
            except (GovernanceError, KeyError, ValueError, OSError) as exc:
                status, message = "rejected", f"{type(exc).__name__}: {exc}"
                log.error("%s: %s command failed: %s", self.config.silo_id, cmd.kind, message)
        else:
            status, message = "rejected", f"unknown command kind {cmd.kind!r}"
        log.info(
            "%s: command %s %s for %s/%s (%s): %s",
            self.config.silo_id,
            cmd.command_id,
            cmd.kind,
            cmd.model_id,
            cmd.model_version,
            cmd.reason,
            status,
        )
        with open(self._commands_path, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "command_id": cmd.command_id,
                        "kind": cmd.kind,
                        "job_id": cmd.job_id,
                        "status": status,
                        "received_ms": now_ms(),
                    }
                )
                + "\n"
            )
        self._acked.add(cmd.command_id)
        self.audit.append(
            "command_received",
            command_id=cmd.command_id,
            command=cmd.kind,
            job_id=cmd.job_id,
            model=cmd.model_id,
            version=cmd.model_version,
            status=status,
        )
        self.client.ack_command(cmd.command_id, self.config.silo_id, status, message)
        self.received.append(cmd)

    # -- retraining ----------------------------------------------------------------
    def _watch_for(self, model_id: str) -> ModelWatch:
        for m in self.models:
            if m.spec.model_id == model_id:
                return m
        raise KeyError(f"this silo does not serve model {model_id!r}")

    def _on_join_training(self, cmd: Command, payload: dict[str, object]) -> str:
        from fedgov.federated.nodes import SuperNodeProcess
        from fedgov.spec import save_spec

        if self.config.training_data is None:
            raise ValueError("no training data configured (training.data in the agent config)")
        watch = self._watch_for(cmd.model_id)
        workdir = self.config.state_dir / "training" / cmd.job_id
        workdir.mkdir(parents=True, exist_ok=True)
        spec_path = workdir / "spec.json"
        save_spec(watch.spec, spec_path)
        node = SuperNodeProcess(
            self.config.silo_id,
            str(payload["superlink"]),
            {"data-path": str(self.config.training_data), "spec-path": str(spec_path)},
            workdir=workdir,
        ).start()
        self._supernodes[cmd.job_id] = node
        self.audit.append("supernode_started", job_id=cmd.job_id, node_id=node.node_id)
        return f"SuperNode {node.node_id} joined {payload['superlink']}"

    def _stop_supernode(self, job_id: str) -> None:
        node = self._supernodes.pop(job_id, None)
        if node is not None:
            node.stop()

    def _on_evaluate(self, cmd: Command, payload: dict[str, object]) -> str:
        from agent.training import evaluate_candidate, weights_from_payload

        self._stop_supernode(cmd.job_id)
        if self.config.holdout is None:
            raise ValueError("no holdout configured (training.holdout in the agent config)")
        spec = MonitoringSpec.from_dict(payload["spec"], source="evaluate command")  # type: ignore[arg-type]
        report = evaluate_candidate(
            spec,
            weights_from_payload(payload["weights"]),  # type: ignore[arg-type]
            self.config.holdout,
            self.engine,
            silo_id=self.config.silo_id,
            jurisdiction=self.config.jurisdiction,
            chunk_rows=self.config.chunk_rows,
            min_cell_count=self.config.min_cell_count,
            epsilon=self.config.epsilon,
        )
        self.audit.append(
            "candidate_decision",
            report_id=report.report_id,
            version=spec.model_version,
            allow=report.decision.allow,
            deny=list(report.decision.deny),
        )
        report = self._link(report)
        self.outbox.put(report)
        self._advance(report)
        self.flush_outbox()
        return f"candidate {spec.model_version}: allow={report.decision.allow}"

    def _on_promote(self, cmd: Command, payload: dict[str, object]) -> str:
        import base64

        from fedgov.spec import save_spec

        spec = MonitoringSpec.from_dict(payload["spec"], source="promote command")  # type: ignore[arg-type]
        models_dir = self.config.state_dir / "models"
        models_dir.mkdir(parents=True, exist_ok=True)
        save_spec(spec, models_dir / f"{spec.model_id}-{spec.model_version}.spec.json")
        if payload.get("artifact_b64"):
            (models_dir / f"{spec.model_id}-{spec.model_version}.npz").write_bytes(
                base64.b64decode(str(payload["artifact_b64"]))
            )
        old = self._watch_for(spec.model_id)
        self.models = tuple(ModelWatch(spec, m.input) if m is old else m for m in self.models)
        self.register()
        self.audit.append(
            "model_switched",
            model=spec.model_id,
            previous=old.spec.model_version,
            version=spec.model_version,
        )
        return f"now monitoring {spec.model_id} {spec.model_version}"

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

    def run(self, *, once: bool = False) -> None:
        self.start_metrics()
        self.register()
        if once:
            self.scan_once()
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
