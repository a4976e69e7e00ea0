"""The model registry: which version of each model is in production, and moving it.

The first version a silo serves enters as production; a retraining job adds
candidates (with their specs, so silos' evaluation reports validate).
Promoting moves the ``production`` alias, retires the version it held and
tells every silo serving the model to switch, under the job that made the
version; a rollback promotes the version production held before.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from aggregator._audit import Audit
from aggregator.silo_commands import Commands
from aggregator.specs import SpecCache
from aggregator.store import ModelVersionRecord, Store
from fedgov.errors import QueryError
from fedgov.report import now_ms
from fedgov.spec import MonitoringSpec

__all__ = ["ModelRegistry"]

log = logging.getLogger(__name__)

PRODUCTION = "production"


@dataclass(eq=False)
class ModelRegistry:
    _store: Store
    _specs: SpecCache
    _commands: Commands
    _audit: Audit

    def ensure_registered(self, model_id: str, version: str, digest: str, silo: str) -> None:
        """The first version a silo serves enters the registry as production."""
        if self._store.get_model_version(model_id, version) is None:
            try:
                self._store.add_model_version(
                    ModelVersionRecord(
                        model_id,
                        version,
                        "promoted",
                        now_ms(),
                        digest,
                        {"source": f"first served by silo {silo}"},
                    )
                )
            except Exception:  # noqa: BLE001 - a concurrent registration won the insert
                log.debug("model version %s/%s already registered", model_id, version)
        if self._store.resolve_alias(model_id, PRODUCTION) is None:
            self._store.set_alias(model_id, PRODUCTION, version)

    def is_production(self, model_id: str, version: str) -> bool:
        current = self._store.resolve_alias(model_id, PRODUCTION)
        return current is None or current == version

    def spec_for(self, model_id: str, version: str) -> MonitoringSpec:
        return self._specs.for_model(model_id, version)

    def versions(self, model_id: str | None = None) -> list[ModelVersionRecord]:
        return self._store.list_model_versions(model_id or None)

    def register_candidate_spec(self, spec: MonitoringSpec) -> None:
        """Make a candidate's spec known so that silos' evaluation reports validate."""
        self._specs.add(spec)
        for silo in self._store.list_silos():
            if silo.serves(spec.model_id):
                models = [
                    (m, v, d, self._store.get_spec_json(d) or "")
                    for m, v, d in silo.models
                    if v != spec.model_version
                ]
                models.append(
                    (spec.model_id, spec.model_version, spec.digest, json.dumps(spec.to_dict()))
                )
                self._store.register_silo(
                    silo.silo_id, silo.jurisdiction, silo.policy_bundle_digest, models
                )

    def promote(
        self, model_id: str, version: str, *, reason: str, job_id: str | None = None
    ) -> str | None:
        """Make ``version`` production and tell the silos; returns the version it replaced."""
        rec = self._store.get_model_version(model_id, version)
        if rec is None:
            raise QueryError(f"no model version {model_id}/{version} in the registry")
        previous = self._store.set_alias(model_id, PRODUCTION, version)
        self._store.set_model_status(model_id, version, "promoted")
        if previous and previous != version:
            self._store.set_model_status(model_id, previous, "retired")
        self._audit(
            "model_promoted", model=model_id, version=version, previous=previous, reason=reason
        )
        silos = [s.silo_id for s in self._store.list_silos() if s.serves(model_id)]
        spec = self._specs.get(rec.spec_digest)
        payload: dict[str, Any] = {"version": version, "spec": spec.to_dict() if spec else None}
        if rec.artifact is not None:
            payload["artifact_b64"] = base64.b64encode(rec.artifact).decode()
        # Announced under the job that made the version (acks are tracked per job).
        job_id = job_id or rec.lineage.get("job_id")
        if job_id is None:
            jobs = self._store.list_jobs(model_id)
            job_id = jobs[-1].job_id if jobs else None
        if job_id is not None and silos:
            self._commands.send(job_id, "promote", silos, reason, payload)
        return previous

    def rollback(self, model_id: str) -> str:
        """Point production back at the version it held before the current one."""
        history = [v for v, _ in self._store.alias_history(model_id, PRODUCTION)]
        current = self._store.resolve_alias(model_id, PRODUCTION)
        earlier = [v for v in history if v != current]
        if not earlier:
            raise QueryError(f"{model_id}: no earlier production version to roll back to")
        self.promote(model_id, earlier[0], reason=f"rollback from {current}")
        return earlier[0]
