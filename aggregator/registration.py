"""Silo registration: a silo names its jurisdiction, policy bundle and the models it serves.

Each model comes with its monitoring spec as JSON; the spec must parse, its
digest must match its content and its model id and version must be the ones
named, or the whole registration is rejected. A registered model version
enters the model registry (the first one a silo serves becomes production),
and the silo's command stream is woken.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator.registry import ModelRegistry
from aggregator.silo_commands import CommandHub
from aggregator.specs import SpecCache
from aggregator.store import Store
from fedgov.errors import ReportRejected, SpecError
from fedgov.spec import MonitoringSpec
from fedgov.wire import json_from_wire

__all__ = ["ModelRegistration", "Registration"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRegistration:
    model_id: str
    model_version: str
    spec_digest: str
    spec_json: str


class Registration:
    def __init__(
        self, store: Store, specs: SpecCache, registry: ModelRegistry, hub: CommandHub
    ) -> None:
        self._store = store
        self._specs = specs
        self._registry = registry
        self._hub = hub

    def register(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[ModelRegistration],
    ) -> None:
        if not silo_id or not jurisdiction:
            raise ReportRejected("register: silo_id and jurisdiction are required")
        for i, m in enumerate(models):
            where = f"models[{i}].spec_json"
            try:
                spec = MonitoringSpec.from_dict(
                    json_from_wire(m.spec_json, field=where), source=where
                )
            except SpecError as exc:  # a peer's spec, not this server's configuration
                raise ReportRejected(str(exc)) from None
            if spec.digest != m.spec_digest:
                raise ReportRejected(
                    f"models[{i}].spec_digest: does not match the spec's content "
                    f"(expected {spec.digest[:12]}...)"
                )
            if (spec.model_id, spec.model_version) != (m.model_id, m.model_version):
                raise ReportRejected(f"models[{i}]: model id/version differ from the spec's")
            self._specs.add(spec)
        self._store.register_silo(
            silo_id,
            jurisdiction,
            policy_bundle_digest,
            [(m.model_id, m.model_version, m.spec_digest, m.spec_json) for m in models],
        )
        for m in models:
            self._registry.ensure_registered(m.model_id, m.model_version, m.spec_digest, silo_id)
        log.info("registered silo %s (%s) serving %d model(s)", silo_id, jurisdiction, len(models))
        self._hub.notify([silo_id])
