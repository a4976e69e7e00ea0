"""The silo's policy engine, and swapping in a changed bundle while the agent runs.

The engine is ``policy_engine`` from the configuration (see
:func:`fedgov.policy.load_engine`): embedded Rego by default, an OPA sidecar
when only ``opa_url`` is configured. A changed bundle is swapped in only if
it compiles; a broken one is logged and audited once per distinct content and
never swapped in, so the bundle that was serving keeps deciding (fail closed
at start, fail safe while running).
"""

from __future__ import annotations

import logging

from agent.config import AgentConfig
from fedgov.audit import AuditLog
from fedgov.errors import PolicyError
from fedgov.policy import PolicyEngine, load_bundle
from fedgov.policy import load_engine as load_named_engine

__all__ = ["PolicyReloader", "load_engine"]

log = logging.getLogger(__name__)


def load_engine(config: AgentConfig) -> PolicyEngine:
    """``config.policy_engine``; when unset, an OPA sidecar if ``opa_url`` is configured,
    else embedded Rego.

    Raises :class:`~fedgov.errors.PolicyError` when the bundle does not load,
    :class:`~fedgov.errors.ConfigError` when the engine cannot be used."""
    engine = config.policy_engine or ("opa" if config.opa_url else "regopy")
    return load_named_engine(config.policy, engine=engine, opa_url=config.opa_url)


class PolicyReloader:
    """Watches ``config.policy`` for a bundle other than the one serving (``digest``)."""

    def __init__(self, config: AgentConfig, audit: AuditLog, serving: PolicyEngine) -> None:
        self.config = config
        self.audit = audit
        self.digest = getattr(serving, "digest", "")
        self._rejected = ""

    def changed_engine(self) -> PolicyEngine | None:
        """A new engine when the bundle changed and compiles, else None.

        The caller swaps it in and closes the old one. A broken bundle is
        logged and audited once per distinct content.
        """
        try:
            digest = load_bundle(self.config.policy).digest
        except PolicyError as exc:
            digest = f"unreadable:{exc}"
        if digest in (self.digest, self._rejected):
            return None
        try:
            engine = load_engine(self.config)
        except PolicyError as exc:
            self._rejected = digest
            log.error(
                "%s: new policy bundle rejected, still serving %s: %s",
                self.config.silo_id,
                self.digest[:19],
                exc,
            )
            self.audit.append(
                "policy_rejected",
                bundle=str(self.config.policy),
                error=str(exc),
                serving=self.digest,
            )
            return None
        previous, self.digest, self._rejected = self.digest, engine.digest, ""
        log.warning(
            "%s: policy bundle reloaded: %s -> %s",
            self.config.silo_id,
            previous[:19],
            engine.digest[:19],
        )
        self.audit.append("policy_reloaded", previous=previous, digest=engine.digest)
        return engine
