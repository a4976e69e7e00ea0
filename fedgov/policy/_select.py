"""Choosing a policy engine by name: ``regopy``, ``opa-go`` or ``opa``.

- ``regopy`` (the default): rego-cpp embedded through regopy
  (:class:`~fedgov.policy.RegoEngine`).
- ``opa-go``: OPA's own Go evaluator in-process
  (:class:`~fedgov.policy.OpaGoEngine`; needs the opa-go extra, see
  :data:`~fedgov.policy._opa_go.INSTALL_HINT`).
- ``opa``: an OPA sidecar over REST (:class:`~fedgov.policy.OpaEngine`); needs
  ``opa_url``.

All three fail closed and agree on every shipped pack (the conformance suite
runs each case on each engine).
"""

from __future__ import annotations

from pathlib import Path

from fedgov.errors import ConfigError
from fedgov.policy._opa import OpaEngine
from fedgov.policy._opa_go import OpaGoEngine
from fedgov.policy._regopy import RegoEngine

__all__ = ["ENGINES", "load_engine"]

#: Engine names, as configuration spells them; the first is the default.
ENGINES = ("regopy", "opa-go", "opa")


def load_engine(
    path: str | Path, *, engine: str = "regopy", opa_url: str | None = None
) -> RegoEngine | OpaGoEngine | OpaEngine:
    """The engine named ``engine`` with the bundle at ``path`` loaded.

    Raises :class:`~fedgov.errors.PolicyError` when the bundle does not load
    and :class:`ConfigError` for an unknown engine, ``opa`` without
    ``opa_url``, or ``opa-go`` when it is not installed.
    """
    if engine == "regopy":
        return RegoEngine.from_bundle(path)
    if engine == "opa-go":
        return OpaGoEngine.from_bundle(path)
    if engine == "opa":
        if not opa_url:
            raise ConfigError("policy engine 'opa' needs opa_url (the sidecar's http://host:port)")
        return OpaEngine.from_bundle(path, url=opa_url)
    raise ConfigError(f"unknown policy engine {engine!r}; use one of {', '.join(ENGINES)}")
