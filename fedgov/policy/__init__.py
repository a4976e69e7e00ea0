"""Policy engines: Rego bundles that decide whether a model version may serve.

A bundle (see :func:`load_bundle`) must produce ``data.fedgov.decision``; an
engine evaluates it on the metrics of one report and returns a
:class:`Decision`. Engines fail closed: a bundle that does not load raises
:class:`~fedgov.errors.PolicyError` at start-up, and anything that goes wrong
while evaluating becomes a deny whose reason says what (see
:func:`fail_closed`). :func:`run_policy_tests` runs the ``*_test.rego`` tests
kept beside a bundle's policies.

Engines (:func:`load_engine` picks one by name, :data:`ENGINES`): ``regopy``
(rego-cpp embedded, the default), ``opa-go`` (OPA's own Go evaluator
in-process, :class:`OpaGoEngine`) and ``opa`` (an OPA sidecar over REST,
:class:`OpaEngine`). Bundles are Rego v1, as OPA 1.x reads them.

Usage::

    engine = RegoEngine.from_bundle(default_bundle_path())  # PolicyError if broken
    decision = engine.evaluate(policy_input)                    # never raises
    if not decision.allow: ...                                  # decision.actions: "retrain"...

Policy input contract (what the agent and the aggregator pass as ``input``)::

    {
      "model": {"id": str, "version": str},
      "silo": str, "jurisdiction": str,
      "window": {"start": ISO-8601 str, "end": ISO-8601 str},
      "sample_size": int,
      "drift": {"features": {"<name>": {"psi": float|null, "psi_pvalue": float|null,
                                        "missing_rate": float|null}}},
      "fairness": {"<attribute>": {"demographic_parity_difference": float|null,
                                   "demographic_parity_ratio": float|null,
                                   "equalized_odds_difference": float|null,
                                   "groups": {"<group>": {"count": int,
                                                          "selection_rate": float|null,
                                                          "tpr": float|null,
                                                          "fpr": float|null}}}}
    }

With a score column in the spec, each ``fairness.<attribute>`` also has
``auc_difference`` and ``max_calibration_error`` (float|null), and each group
``scored`` (int), ``auc``, ``auc_bound``, ``calibration_error`` and
``calibration_error_bound`` (float|null); see :mod:`fedgov.metrics.scores`.

``null`` means "not computable" (an empty group, a zero denominator); policies
must skip it. Numpy scalars and arrays are accepted and converted; NaN and
infinities are not (JSON cannot carry them): the decision is a deny naming
the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fedgov.decision import DECISION_PATH, KNOWN_ACTIONS, Decision, fail_closed
from fedgov.policy._bundle import Bundle, load_bundle
from fedgov.policy._opa import OpaEngine
from fedgov.policy._opa_go import OpaGoEngine
from fedgov.policy._policy_tests import TEST_ENGINES, PolicyTestResult, run_policy_tests
from fedgov.policy._regopy import RegoEngine, to_plain
from fedgov.policy._select import ENGINES, load_engine

__all__ = [
    "DECISION_PATH",
    "ENGINES",
    "KNOWN_ACTIONS",
    "TEST_ENGINES",
    "Bundle",
    "Decision",
    "OpaEngine",
    "OpaGoEngine",
    "PolicyEngine",
    "PolicyTestResult",
    "RegoEngine",
    "default_bundle_path",
    "fail_closed",
    "load_bundle",
    "load_engine",
    "run_policy_tests",
    "to_plain",
]


@runtime_checkable
class PolicyEngine(Protocol):
    """What the agent and the aggregator need from a policy engine.

    ``digest`` names the bundle that decides (it goes into every audit
    record); ``evaluate`` never raises for a problem with the policy or the
    input, it returns a fail-closed :class:`Decision`.
    """

    @property
    def digest(self) -> str: ...

    def evaluate(self, input: Mapping[str, Any]) -> Decision:  # "input" as in Rego
        ...


def default_bundle_path() -> Path:
    """The embedded default bundle (four-fifths rule, PSI gate), shipped with the package."""
    return Path(__file__).resolve().parent / "bundles" / "default"
