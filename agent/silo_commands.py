"""Commands the aggregator sends to this silo, and what the silo does with each.

Kinds (``Command.kind``):

- ``retrain``: a failed gate opened a retraining job; accepted if this silo
  serves the model version, then it waits for ``join_training``;
- ``join_training``: start a Flower SuperNode beside the training data and
  join the run's SuperLink (``payload.superlink``);
- ``evaluate``: stop the SuperNode; score the candidate (``payload.spec``,
  ``payload.weights``) on the local holdout through the silo's own policy,
  and report it as the candidate version;
- ``promote``: switch to the promoted version (``payload.spec``, optionally
  the model artifact) and register it;
- ``secagg_round``: take part in a secure-aggregation round
  (:mod:`agent.secure_rounds`): checked here, acknowledged, then run on its own thread.

Every command is logged as handled in the silo's state (one transaction),
audited, then acknowledged with its status. A command id handled before
(the aggregator redelivers until it sees the ack) is acknowledged again and
not executed again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from agent.client import AggregatorClient, Command
from agent.config import AgentConfig
from agent.exporter import AgentMetrics
from agent.secure_rounds import Admission, SecureRounds
from agent.state import AgentState
from agent.windows import ModelWatch
from fedgov.audit import AuditLog
from fedgov.errors import GovernanceError
from fedgov.policy import PolicyEngine
from fedgov.spec import MonitoringSpec

__all__ = ["CommandHost", "SiloCommands"]

log = logging.getLogger(__name__)


class CommandHost(Protocol):
    """What the commands need from the agent that receives them."""

    @property
    def config(self) -> AgentConfig: ...
    @property
    def models(self) -> tuple[ModelWatch, ...]: ...
    @property
    def engine(self) -> PolicyEngine: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def state(self) -> AgentState: ...
    @property
    def client(self) -> AggregatorClient: ...
    @property
    def metrics(self) -> AgentMetrics: ...
    @property
    def budget(self) -> float | None: ...
    @property
    def secure_rounds(self) -> SecureRounds: ...

    def flush_outbox(self) -> int: ...
    def update_budget(self) -> None: ...

    def switch_model(self, old: ModelWatch, spec: MonitoringSpec) -> None:
        """Monitor ``spec`` instead of ``old`` (same input) and register the change."""
        ...


class SiloCommands:
    """Handles the commands of one silo; ``received`` lists them in arrival order."""

    def __init__(self, host: CommandHost) -> None:
        self.host = host
        self.received: list[Command] = []
        self.received_at: dict[str, float] = {}  # command id -> when it first arrived
        self.supernodes: dict[str, Any] = {}  # job id -> the SuperNode process it started
        # Held while a command is handled: stop_all waits for it, so the agent never
        # closes its channel and state under a command (its ack would raise in the thread).
        self._busy = threading.RLock()

    def handle(self, cmd: Command) -> None:
        with self._busy:
            self._handle(cmd)

    def _handle(self, cmd: Command) -> None:
        host, silo_id = self.host, self.host.config.silo_id
        self.received_at.setdefault(cmd.command_id, time.monotonic())
        host.metrics.commands.labels(cmd.kind).inc()
        admission: Admission | None = None
        if host.state.command_acked(cmd.command_id):
            status, message = "accepted", "already acknowledged"
        elif cmd.kind == "secagg_round":
            admission = host.secure_rounds.admit(cmd)
            status = "accepted" if admission.accepted else "rejected"
            message = admission.message
        elif cmd.kind == "retrain":
            served = any(
                m.spec.model_id == cmd.model_id and m.spec.model_version == cmd.model_version
                for m in host.models
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
                log.error("%s: %s command failed: %s", silo_id, cmd.kind, message)
        else:
            status, message = "rejected", f"unknown command kind {cmd.kind!r}"
        log.info(
            "%s: command %s %s for %s/%s (%s): %s",
            silo_id,
            cmd.command_id,
            cmd.kind,
            cmd.model_id,
            cmd.model_version,
            cmd.reason,
            status,
        )
        host.state.record_command(cmd.command_id, cmd.kind, cmd.job_id, status)
        host.audit.append(
            "command_received",
            command_id=cmd.command_id,
            command=cmd.kind,
            job_id=cmd.job_id,
            model=cmd.model_id,
            version=cmd.model_version,
            status=status,
        )
        host.client.ack_command(cmd.command_id, silo_id, status, message)
        self.received.append(cmd)
        if admission is not None and admission.accepted:
            host.secure_rounds.start(admission)

    def stop_all(self) -> None:
        """Wait for the command being handled, then stop every SuperNode this silo started."""
        with self._busy:
            for job_id in list(self.supernodes):
                self._stop_supernode(job_id)

    # -- retraining ----------------------------------------------------------------
    def _watch_for(self, model_id: str) -> ModelWatch:
        for m in self.host.models:
            if m.spec.model_id == model_id:
                return m
        raise KeyError(f"this silo does not serve model {model_id!r}")

    def _on_join_training(self, cmd: Command, payload: dict[str, object]) -> str:
        from fedgov.federated.nodes import SuperNodeProcess
        from fedgov.spec import save_spec

        config = self.host.config
        if config.training_data is None:
            raise ValueError("no training data configured (training.data in the agent config)")
        watch = self._watch_for(cmd.model_id)
        workdir = config.state_dir / "training" / cmd.job_id
        workdir.mkdir(parents=True, exist_ok=True)
        spec_path = workdir / "spec.json"
        save_spec(watch.spec, spec_path)
        root, key = self._flower_security(bool(payload.get("tls")))
        node = SuperNodeProcess(
            config.silo_id,
            str(payload["superlink"]),
            {"data-path": str(config.training_data), "spec-path": str(spec_path)},
            workdir=workdir,
            root_certificates=root,
            node_key=key,
        ).start()
        self.supernodes[cmd.job_id] = node
        self.host.audit.append("supernode_started", job_id=cmd.job_id, node_id=node.node_id)
        return f"SuperNode {node.node_id} joined {payload['superlink']}"

    def _flower_security(self, tls: bool) -> tuple[Path | None, Path | None]:
        """(CA, node key) of this silo's SuperNode: TLS to the SuperLink, trusting the
        aggregator's CA, signing with the enrolled node key. A silo that talks mTLS to the
        aggregator does not send model updates in plaintext."""
        config = self.host.config
        if not tls:
            if config.tls is not None:
                raise ValueError(
                    "the SuperLink runs without TLS and this silo talks mTLS to the aggregator; "
                    "model updates are not sent in plaintext (start the aggregator with --tls-dir)"
                )
            return None, None
        if config.tls is None:
            raise ValueError(
                "the SuperLink runs TLS and this silo has no CA to trust it (aggregator.tls)"
            )
        if config.node_key is None or not config.node_key.is_file():
            raise ValueError(
                "the SuperLink admits enrolled nodes only and this silo has no node key: set "
                f"training.node_key (e.g. {config.silo_id}.node from `fedgov certs init`)"
                + (f"; {config.node_key} does not exist" if config.node_key else "")
            )
        return config.tls.ca, config.node_key

    def _stop_supernode(self, job_id: str) -> None:
        node = self.supernodes.pop(job_id, None)
        if node is not None:
            node.stop()

    def _on_evaluate(self, cmd: Command, payload: dict[str, object]) -> str:
        from agent.training import evaluate_candidate, weights_from_payload

        host, config = self.host, self.host.config
        self._stop_supernode(cmd.job_id)
        if config.holdout is None:
            raise ValueError("no holdout configured (training.holdout in the agent config)")
        spec = MonitoringSpec.from_dict(payload["spec"], source="evaluate command")  # type: ignore[arg-type]
        report = evaluate_candidate(
            spec,
            weights_from_payload(payload["weights"]),  # type: ignore[arg-type]
            config.holdout,
            host.engine,
            silo_id=config.silo_id,
            jurisdiction=config.jurisdiction,
            chunk_rows=config.chunk_rows,
            privacy=config.privacy,
        )
        host.audit.append(
            "candidate_decision",
            report_id=report.report_id,
            version=spec.model_version,
            allow=report.decision.allow,
            deny=list(report.decision.deny),
        )
        # Privacy charged, outbox, chain: one transaction (BudgetExhausted: nothing sent).
        report = host.state.record_report(report, budget=host.budget)
        host.update_budget()
        host.flush_outbox()
        return f"candidate {spec.model_version}: allow={report.decision.allow}"

    def _on_promote(self, cmd: Command, payload: dict[str, object]) -> str:
        import base64

        from fedgov.spec import save_spec

        spec = MonitoringSpec.from_dict(payload["spec"], source="promote command")  # type: ignore[arg-type]
        models_dir = self.host.config.state_dir / "models"
        models_dir.mkdir(parents=True, exist_ok=True)
        save_spec(spec, models_dir / f"{spec.model_id}-{spec.model_version}.spec.json")
        if payload.get("artifact_b64"):
            (models_dir / f"{spec.model_id}-{spec.model_version}.npz").write_bytes(
                base64.b64decode(str(payload["artifact_b64"]))
            )
        old = self._watch_for(spec.model_id)
        self.host.switch_model(old, spec)
        self.host.audit.append(
            "model_switched",
            model=spec.model_id,
            previous=old.spec.model_version,
            version=spec.model_version,
        )
        return f"now monitoring {spec.model_id} {spec.model_version}"
