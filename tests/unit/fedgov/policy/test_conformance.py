"""One table of policies, inputs and decisions, run against every policy backend.

Backends: the embedded rego-cpp engine (RegoEngine), OPA's Go evaluator
in-process (OpaGoEngine), and the OPA sidecar backend (OpaEngine) talking
to the OPA REST test double on port 0, which evaluates with OPA's Go
evaluator too. A case expects a Decision, a fail-closed deny whose reason
contains a given text, or a PolicyError at load (at a file and line). Every
shipped pack on all three: test_engines_agree.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.opa_emulator import OpaEmulator
from support.policy_input import attribute, feature, group, policy_input
from support.rego import EMPTY, V0_POLICY, V1

from fedgov.errors import PolicyError
from fedgov.policy import (
    Decision,
    OpaEngine,
    OpaGoEngine,
    PolicyEngine,
    RegoEngine,
    default_bundle_path,
)


@dataclass(frozen=True)
class Case:
    id: str
    modules: dict[str, str]
    input: Any
    # a Decision (digest filled in), a text the fail-closed reason contains,
    # or PolicyError when the bundle must not load
    expect: Decision | str | type[PolicyError]
    data: dict[str, Any] | None = None
    error_at: tuple[str, int] | None = field(default=None)  # (file, line) of a load error
    # rego-cpp refuses at load what OPA decides (the one known divergence, and it
    # fails closed): a load error on regopy, ``expect`` on the OPA engines
    regopy_refuses: bool = False


DEFAULT_MODULES = {
    p.name: p.read_text(encoding="utf-8")
    for p in default_bundle_path().glob("*.rego")
    if not p.name.endswith("_test.rego")
}
DEFAULT_DATA = json.loads((default_bundle_path() / "data.json").read_text(encoding="utf-8"))

REPORT = policy_input(
    features={"age": feature(0.35, 0.001)},
    fairness={"sex": attribute(0.05, 0.9, 0.3, {"f": group(480, 0.45)})},
)

GATE = V1 + (
    "deny contains msg if {\n"
    "  input.psi > data.fedgov.limits.psi_max\n"
    '  msg := sprintf("psi %v > %v", [input.psi, data.fedgov.limits.psi_max])\n'
    "}\n"
    'deny contains "sample too small" if input.n < 50\n'
    'warn contains "psi near the limit" if input.psi > 0.8 * data.fedgov.limits.psi_max\n'
    'actions contains "retrain" if count(deny) > 0\n'
    'actions contains "rollback" if input.psi > 1\n'
    'decision := {"allow": count(deny) == 0, "deny": deny, "warn": warn, "actions": actions}\n'
)
LIMITS = {"fedgov": {"limits": {"psi_max": 0.2}}}

CASES = [
    Case("allow", {"policy.rego": V1 + f"decision := {EMPTY}\n"}, {}, Decision(allow=True)),
    Case("gate_allows", {"policy.rego": GATE}, {"psi": 0.1, "n": 100}, Decision(True), LIMITS),
    Case(
        "deny_with_reasons",
        {"policy.rego": GATE},
        {"psi": 0.35, "n": 10},
        Decision(
            allow=False,
            deny=("psi 0.35 > 0.2", "sample too small"),
            warn=("psi near the limit",),
            actions=("retrain",),
        ),
        LIMITS,
    ),
    Case(
        "warn_only",
        {"policy.rego": GATE},
        {"psi": 0.19, "n": 100},
        Decision(allow=True, warn=("psi near the limit",)),
        LIMITS,
    ),
    Case(
        "several_actions",
        {"policy.rego": GATE},
        {"psi": 1.5, "n": 100},
        Decision(
            allow=False,
            deny=("psi 1.5 > 0.2",),
            warn=("psi near the limit",),
            actions=("retrain", "rollback"),
        ),
        LIMITS,
    ),
    Case(
        "default_bundle_drift_and_odds",
        DEFAULT_MODULES,
        REPORT,
        Decision(
            allow=False,
            deny=("drift: feature age has PSI 0.3500 > 0.2 (p-value 0.001 < 0.01)",),
            warn=("fairness: attribute sex has equalized odds difference 0.3000 > 0.2",),
            actions=("retrain",),
        ),
        DEFAULT_DATA,
    ),
    Case(
        "numpy_input_is_converted",
        DEFAULT_MODULES,
        {**REPORT, "sample_size": np.int64(10), "extra": np.array([1.0, 2.0])},
        Decision(
            allow=True,
            warn=("sample size 10 < 50: no verdict on drift or fairness for this window",),
        ),
        DEFAULT_DATA,
    ),
    Case(
        "decision_as_a_package",
        {
            "policy.rego": "package fedgov.decision\n\nimport rego.v1\n\nallow := true\n"
            "deny := set()\nwarn := set()\nactions := set()\n"
        },
        {},
        Decision(allow=True),
    ),
    Case(
        "function_in_another_module",
        {
            "a.rego": V1 + "decision := verdict(input)\n",
            "z.rego": V1
            + (
                'verdict(inp) := {"allow": ok, "deny": [m | not ok; m := "too big"],'
                ' "warn": [], "actions": []} if { ok := inp.x < 3 }\n'
            ),
        },
        {"x": 5},
        Decision(allow=False, deny=("too big",)),
    ),
    Case(
        "rego_v0_syntax",
        {"policy.rego": V0_POLICY},
        {"n": 1},
        PolicyError,  # OPA 1.x refuses v0; rego-cpp would read it, fedgov refuses it too
        error_at=("policy.rego", 4),
    ),
    # --- fail closed ---------------------------------------------------------------
    Case(
        "undefined_decision",
        {"policy.rego": V1 + f"decision := {EMPTY} if input.ready\n"},
        {"ready": False},
        "undefined",
    ),
    Case(
        "allow_is_a_string",
        {
            "policy.rego": V1
            + 'decision := {"allow": "yes", "deny": [], "warn": [], "actions": []}\n'
        },
        {},
        "data.fedgov.decision.allow must be a boolean, not the string 'yes'",
    ),
    Case("decision_is_false", {"policy.rego": V1 + "decision := false\n"}, {}, "must be an object"),
    Case(
        "allow_with_deny_reasons",
        {
            "policy.rego": V1
            + 'decision := {"allow": true, "deny": ["x"], "warn": [], "actions": []}\n'
        },
        {},
        "inconsistent",
    ),
    Case(
        "unknown_key",
        {
            "policy.rego": V1 + 'decision := {"allow": true, "deny": [], "warn": [], "actions": [],'
            ' "why": 1}\n'
        },
        {},
        "unknown keys 'why'",
    ),  # fmt: skip
    Case(
        "conflicting_outputs",
        {
            "policy.rego": V1 + f"decision := {EMPTY} if input.a\n"
            'decision := {"allow": false, "deny": ["b"], "warn": [], "actions": []} if input.b\n'
        },
        {"a": True, "b": True},
        "complete rules must not produce multiple outputs",
    ),
    Case(
        "nan_in_input",
        {"policy.rego": GATE},
        {"psi": float("nan"), "n": 100},
        "invalid input: input.psi is nan",
        LIMITS,
    ),
    Case("input_not_an_object", {"policy.rego": GATE}, [1, 2], "input must be an object", LIMITS),
    # --- load errors ----------------------------------------------------------------
    Case("no_decision_rule", {"policy.rego": V1 + "allow := true\n"}, {}, PolicyError),
    Case(
        "syntax_error",
        {
            "policy.rego": V1 + f"decision := {EMPTY}\n",
            "rules.rego": V1 + "bad if {\n  input.x == )\n}\n",
        },
        {},
        PolicyError,
        error_at=("rules.rego", 6),
    ),
    Case(
        "construct_that_aborts_rego_cpp",
        {
            "policy.rego": V1 + "big if input.n > 1\n\n"
            'decision := {"allow": b, "deny": [], "warn": [], "actions": []} if {\n'
            '  b := big with input as {"n": 2}\n}\n'
        },
        {},
        Decision(allow=True),
        regopy_refuses=True,
    ),
]


Factory = Callable[[Path], PolicyEngine]


BACKENDS = ("regopy", "opa-go", "opa-rest")


@pytest.fixture(params=BACKENDS)
def engine_backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, Factory]]:
    with backend(request.param) as make:
        yield request.param, make


@contextmanager
def backend(name: str) -> Iterator[Factory]:
    """A factory of engines of backend ``name``; what it made is closed on exit."""
    if name == "regopy":
        yield RegoEngine.from_bundle
        return
    closers: list[Callable[[], None]] = []
    try:
        if name == "opa-go":

            def make_go(path: Path) -> PolicyEngine:
                engine = OpaGoEngine.from_bundle(path)
                closers.append(engine.close)
                return engine

            yield make_go
            return
        with OpaEmulator() as opa:

            def make_rest(path: Path) -> PolicyEngine:
                engine = OpaEngine.from_bundle(path, url=opa.url, timeout=5.0, retries=0)
                closers.append(engine.close)
                return engine

            yield make_rest
    finally:
        for close in closers:
            close()


def write_bundle(root: Path, case: Case) -> Path:
    root.mkdir()
    for name, text in case.modules.items():
        (root / name).write_text(text, encoding="utf-8")
    if case.data is not None:
        (root / "data.json").write_text(json.dumps(case.data), encoding="utf-8")
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_backend_conforms(case: Case, engine_backend: tuple[str, Factory], tmp_path: Path) -> None:
    name, make_engine = engine_backend
    root = write_bundle(tmp_path / "bundle", case)
    if case.expect is PolicyError or (case.regopy_refuses and name == "regopy"):
        with pytest.raises(PolicyError) as info:
            make_engine(root)
        if case.error_at is not None:
            file, line = case.error_at
            assert info.value.file == str(root / file)
            assert info.value.line == line
        return
    engine = make_engine(root)
    decision = engine.evaluate(case.input)
    assert decision.bundle_digest == engine.digest
    if isinstance(case.expect, str):
        assert decision.allow is False and decision.failed_closed
        assert len(decision.deny) == 1
        assert case.expect in decision.deny[0]
    else:
        assert isinstance(case.expect, Decision)
        assert decision == Decision(
            allow=case.expect.allow,
            deny=case.expect.deny,
            warn=case.expect.warn,
            actions=case.expect.actions,
            bundle_digest=engine.digest,
        )
