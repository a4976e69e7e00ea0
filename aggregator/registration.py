"""Silo registration: a silo names its jurisdiction, policy bundle and the models it serves.

Each model comes with its monitoring spec as JSON; the spec must parse, its
digest must match its content and its model id and version must be the ones
named, or the whole registration is rejected. A registered model version
enters the model registry (the first one a silo serves becomes production),
and the silo's command stream is woken.

Under mTLS the jurisdiction has been set by :func:`aggregator._rpc.rpc` from
the silo's certificate or from an operator's approval (:meth:`approve`),
never taken from the request. A registration that moves a silo to another
jurisdiction than the one stored (a reissued certificate; any request
without TLS) is audited as ``silo_jurisdiction_changed``; an approval as
``silo_jurisdiction_approved``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator._audit import Audit
from aggregator.registry import ModelRegistry
from aggregator.silo_commands import CommandHub
from aggregator.specs import SpecCache
from aggregator.store import SiloApproval, Store
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


@dataclass(eq=False)
class Registration:
    _store: Store
    _specs: SpecCache
    _registry: ModelRegistry
    _hub: CommandHub
    _audit: Audit

    def approve(
        self, silo_id: str, jurisdiction: str, *, approved_by: str, reason: str
    ) -> SiloApproval:
        """An operator sets ``silo_id``'s jurisdiction (a registered silo moves at once)."""
        if not silo_id or not jurisdiction:
            raise ReportRejected("approve: silo_id and jurisdiction are required")
        done = self._store.approve_silo(
            silo_id, jurisdiction, approved_by=approved_by, reason=reason
        )
        log.warning(
            "%s approved silo %s in jurisdiction %s (was %s)",
            approved_by,
            silo_id,
            jurisdiction,
            done.previous,
        )
        self._audit(
            "silo_jurisdiction_approved",
            silo=silo_id,
            jurisdiction=jurisdiction,
            previous=done.previous,
            by=approved_by,
            reason=reason,
        )
        return done

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
        before = self._store.get_silo(silo_id)
        if before is not None and before.jurisdiction != jurisdiction:
            log.warning(
                "silo %s moves from jurisdiction %s to %s",
                silo_id,
                before.jurisdiction,
                jurisdiction,
            )
            self._audit(
                "silo_jurisdiction_changed",
                silo=silo_id,
                previous=before.jurisdiction,
                jurisdiction=jurisdiction,
            )
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
