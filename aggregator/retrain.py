"""Closing the loop: a retraining job, from dispatch to promotion or rejection.

For each job the coordinator, in a background thread:

1. starts (once) a Flower SuperLink beside the aggregator, enrolls the node
   key of every silo serving the model (``<silo>.node.pub`` in
   ``TrainingSettings.node_keys``) and sends each a ``join_training`` command
   with its address; each agent starts a SuperNode beside its own data,
   signing with its node key over TLS, and acknowledges;
2. ``training``: submits the built-in FedAvg app (or a user's app) as a
   Flower run; only model updates travel;
3. ``evaluating``: registers the result as a *candidate* version in the
   model registry (lineage: Flower run id, silos, node ids, rounds) and
   sends each silo an ``evaluate`` command; each silo scores its local
   holdout with the candidate through the statistics engine and its own
   policy, and reports the candidate version like any other;
4. the gate: every silo's local decision must allow and the central policy
   must allow the merged figures of every jurisdiction group. Then the
   candidate is ``promoted`` (alias ``production`` moves, silos are told to
   switch); otherwise ``rejected`` and production stays. Any error fails the
   job and leaves production untouched. Every transition is audited.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aggregator._audit import Audit
from aggregator.registry import PRODUCTION, ModelRegistry
from aggregator.silo_commands import Commands
from aggregator.store import ENDED_JOB_STATES, JobRecord, ModelVersionRecord, Store
from fedgov.errors import GovernanceError
from fedgov.report import now_ms
from fedgov.spec import save_spec
from fedgov.tls import NodeKey, TlsFiles

__all__ = ["CandidateGate", "RetrainCoordinator", "TrainingSettings", "next_version"]

log = logging.getLogger(__name__)

# The promotion gate (:meth:`aggregator.gates.Gates.gate_candidate`): (model id,
# candidate version) -> (allowed, reasons it is not).
CandidateGate = Callable[[str, str], tuple[bool, list[str]]]


@dataclass(frozen=True)
class TrainingSettings:
    rounds: int = 3
    reweigh_attribute: str | None = None  # None: the spec's first sensitive attribute
    local_epochs: int = 20
    round_timeout: float = 120.0  # a silent SuperNode fails the round after this long
    join_timeout: float = 120.0
    run_timeout: float = 900.0
    evaluation_timeout: float = 180.0
    app: str | None = None  # a user's Flower App directory or .fab; None: the built-in one
    # The SuperLink's TLS (the aggregator's CA and server certificate: it runs on the same
    # host) and SuperNode authentication; None: plaintext, any node may join (trials only).
    flower_tls: TlsFiles | None = None
    node_keys: Path | None = None  # folder of the silos' Flower public keys, <silo>.node.pub


def next_version(version: str, taken: set[str]) -> str:
    """1.0.0 -> 1.0.1 (or the next free); anything else gets a ``-r<n>`` suffix."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    n = 1
    while True:
        cand = f"{m[1]}.{m[2]}.{int(m[3]) + n}" if m else f"{version}-r{n}"
        if cand not in taken:
            return cand
        n += 1


class RetrainCoordinator:
    """Runs each job it is given (:meth:`submit`) in a thread, through the collaborators:

    ``store`` holds jobs, commands, model versions and reports; ``registry``
    gives the job's spec, registers the candidate's and promotes; ``audit``
    records every transition; ``commands`` sends commands to the silos; ``gate``
    is the promotion gate.
    """

    def __init__(
        self,
        store: Store,
        registry: ModelRegistry,
        audit: Audit,
        *,
        commands: Commands,
        gate: CandidateGate,
        settings: TrainingSettings | None = None,
        workdir: Path | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._audit = audit
        self._commands = commands
        self._gate = gate
        self.settings = settings or TrainingSettings()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fedgov-retrain-"))
        self._superlink: Any = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # -- lifecycle -------------------------------------------------------------
    def submit(self, job: JobRecord) -> threading.Thread:
        t = threading.Thread(
            target=self._run, args=(job,), name=f"retrain-{job.job_id}", daemon=True
        )
        self._threads.append(t)
        t.start()
        return t

    def wait(self, timeout: float | None = None) -> None:
        for t in list(self._threads):
            t.join(timeout)

    def close(self) -> None:
        self._stop.set()
        self.wait(10)
        if self._superlink is not None:
            self._superlink.stop()
            self._superlink = None

    def _superlink_address(self) -> tuple[str, Path]:
        from fedgov.federated.nodes import SuperLinkProcess

        with self._lock:
            if self._superlink is None or not self._superlink.alive():
                self._superlink = SuperLinkProcess(
                    workdir=self.workdir / "superlink", tls=self.settings.flower_tls
                ).start()
            return self._superlink.address, self._superlink.cli_home

    def _enroll(self, silos: list[str]) -> dict[str, int]:
        """Enroll each silo's node key with the SuperLink (once); their node ids.

        Only these nodes can join: the SuperLink refuses any other key, and the
        built-in ServerApp trains with these node ids only.
        """
        if self.settings.flower_tls is None:
            return {}
        keys = self.settings.node_keys or self.settings.flower_tls.ca.parent
        with self._lock:
            return {s: self._superlink.enroll(s, NodeKey.of(keys, s).public) for s in silos}

    # -- one job -----------------------------------------------------------------
    def _transition(self, job: JobRecord, state: str, detail: str = "", **kw: Any) -> JobRecord:
        job = self._store.transition_job(job.job_id, state, detail=detail, **kw)
        self._audit(
            "job_transition",
            job_id=job.job_id,
            model=job.model_id,
            version=job.model_version,
            state=state,
            detail=detail,
            candidate_version=job.candidate_version,
        )
        log.info("job %s -> %s %s", job.job_id, state, detail)
        return job

    def _wait_for(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self._stop.is_set():
                raise RuntimeError(f"{what}: the aggregator is stopping")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not done within {timeout:.0f} s")
            time.sleep(0.2)  # a background job waiting on other parties; bounded above

    def _acked(self, job_id: str, kind: str, silos: list[str]) -> bool:
        job = self._store.get_job(job_id)
        assert job is not None
        cmds = [c for c in job.commands if c.kind == kind]
        rejected = [c for c in cmds if c.status == "rejected"]
        if rejected:
            raise RuntimeError(
                f"{kind}: silo(s) {sorted(c.silo_id for c in rejected)} refused the command"
            )
        return sorted(c.silo_id for c in cmds if c.status == "accepted") == sorted(silos)

    def _run(self, job: JobRecord) -> None:
        try:
            self._run_job(job)
        except Exception as exc:  # noqa: BLE001 - any failure fails the job, never production
            if isinstance(exc, GovernanceError):  # ours: its message says what and what to do
                detail = str(exc)
                log.error("retraining job %s failed: %s", job.job_id, detail)
            else:
                detail = f"{type(exc).__name__}: {exc}"
                log.exception("retraining job %s failed", job.job_id)
            current = self._store.get_job(job.job_id)
            if current is not None and current.state not in ENDED_JOB_STATES:
                self._transition(current, "failed", detail)

    def _run_job(self, job: JobRecord) -> None:
        from fedgov.federated import node_ids_value, run_training, save_weights
        from fedgov.federated.model import FeatureMap

        s, store = self.settings, self._store
        spec = self._registry.spec_for(job.model_id, job.model_version)
        silos = sorted({c.silo_id for c in job.commands})
        jobdir = self.workdir / job.job_id
        spec_path = jobdir / "spec.json"
        jobdir.mkdir(parents=True, exist_ok=True)
        save_spec(spec, spec_path)
        attribute = s.reweigh_attribute or (spec.sensitive[0].name if spec.sensitive else "")

        # 1. Every silo's node key enrolled; every silo starts a SuperNode beside its data.
        address, cli_home = self._superlink_address()
        enrolled = self._enroll(silos)
        if enrolled:
            self._audit(
                "nodes_enrolled",
                job_id=job.job_id,
                superlink=address,
                node_ids={silo: str(node) for silo, node in enrolled.items()},
            )
        self._commands.send(
            job.job_id,
            "join_training",
            silos,
            f"federated retraining of {job.model_id}",
            {
                "superlink": address,
                "tls": s.flower_tls is not None,
                "spec_digest": spec.digest,
                "rounds": s.rounds,
            },
        )
        self._wait_for(
            "SuperNodes joining",
            lambda: self._acked(job.job_id, "join_training", silos),
            s.join_timeout,
        )

        # 2. Flower FedAvg rounds; only model updates travel.
        job = self._transition(job, "training", f"Flower SuperLink {address}, {len(silos)} silos")
        run_config: dict[str, str | int | float | bool] = {
            "num-server-rounds": s.rounds,
            "spec-path": str(spec_path),
            "min-nodes": len(silos),
            "reweigh-attribute": attribute,
            "local-epochs": s.local_epochs,
            "round-timeout": s.round_timeout,
        }
        if enrolled and not s.app:  # the built-in ServerApp trains with these nodes only
            run_config["node-ids"] = node_ids_value(enrolled.values())
        result = run_training(
            s.app,
            run_config,
            address,
            output_dir=jobdir / "run",
            timeout=s.run_timeout,
            flwr_home=cli_home,
        )

        # 3. A candidate in the registry, evaluated by every silo on its holdout.
        taken = {v.version for v in store.list_model_versions(job.model_id)}
        version = next_version(job.model_version, taken)
        candidate = replace(spec, model_version=version)
        artifact_path = save_weights(
            jobdir / "candidate.npz", result.weights, FeatureMap.from_spec(candidate)
        )
        lineage = {
            "job_id": job.job_id,
            "parent_version": job.model_version,
            "flower_run_id": result.run_id,
            "silos": silos,
            "rounds": s.rounds,
            "reweigh_attribute": attribute,
            "node_ids": result.metadata.get("node-ids") or result.metadata.get("node_ids"),
            "trigger": job.reason,
        }
        store.add_model_version(
            ModelVersionRecord(
                job.model_id,
                version,
                "candidate",
                now_ms(),
                candidate.digest,
                lineage,
                artifact_path.read_bytes(),
            )
        )
        self._registry.register_candidate_spec(candidate)
        job = self._transition(job, "evaluating", f"candidate {version}", candidate_version=version)
        weights = {"coef": result.weights[0].tolist(), "intercept": result.weights[1].tolist()}
        self._commands.send(
            job.job_id,
            "evaluate",
            silos,
            f"gate candidate {version}",
            {"version": version, "spec": candidate.to_dict(), "weights": weights},
        )
        self._wait_for(
            f"evaluation reports for {version}",
            lambda: (
                len(store.reports_for_model(job.model_id, version, latest_only=True)) >= len(silos)
            ),
            s.evaluation_timeout,
        )

        # 4. The same gates: every local decision and the central policy.
        ok, reasons = self._gate(job.model_id, version)
        if ok:
            self._registry.promote(
                job.model_id, version, reason=f"job {job.job_id}", job_id=job.job_id
            )
            self._transition(job, "promoted", f"{version} is now {PRODUCTION}")
        else:
            store.set_model_status(job.model_id, version, "rejected")
            self._transition(job, "rejected", "; ".join(reasons)[:2000])
