"""Run the Rego tests that live beside a bundle's policies.

Every rule whose name starts with ``test_`` in a ``*_test.rego`` module is a
test; it passes when it evaluates to ``true``, as with ``opa test``. Tests
see the bundle's modules and data.json, and set their input with
``with input as {...}``. ``fedgov policy test BUNDLE`` prints these results.

``engine`` picks the evaluator: ``"regopy"`` (rego-cpp, the default) or
``"opa-go"`` (OPA's own Go evaluator, :mod:`fedgov.policy._opa_go`). The
shipped packs' tests must pass on both (a test checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedgov.errors import ConfigError
from fedgov.policy._bundle import (
    Bundle,
    check_decision_rule,
    load_bundle,
    package_of,
    position,
    rule_heads,
)
from fedgov.policy._opa_go import compile_on_opa, locate, opa_bindings
from fedgov.policy._regopy import UNDEFINED, EvaluationError, compile_modules, evaluate_query

__all__ = ["TEST_ENGINES", "PolicyTestResult", "run_policy_tests"]

#: Engines that can run a bundle's tests.
TEST_ENGINES = ("regopy", "opa-go")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyTestResult:
    """One test rule: ``name`` is ``data.<package>.<rule>``; ``message`` says why it failed."""

    name: str
    passed: bool
    message: str = ""
    file: str = ""
    line: int = 0


def run_policy_tests(path: str | Path, *, engine: str = "regopy") -> list[PolicyTestResult]:
    """Run every ``test_*`` rule of the bundle at ``path``, in file and line order.

    Raises :class:`~fedgov.errors.PolicyError` when the bundle (tests
    included) does not load or compile, :class:`~fedgov.errors.ConfigError`
    for an unknown ``engine``; a bundle without tests gives ``[]``.
    """
    if engine not in TEST_ENGINES:
        raise ConfigError(f"unknown policy engine {engine!r} for tests; use one of {TEST_ENGINES}")
    bundle = load_bundle(path)
    run = _regopy_runner(bundle) if engine == "regopy" else _opa_runner(bundle)
    check_decision_rule(bundle)
    results: list[PolicyTestResult] = []
    for module, text in sorted(bundle.tests.items()):
        package = package_of(text)
        seen: set[str] = set()
        for head in rule_heads(text):
            if not head.name.startswith("test_") or head.ref or head.function or head.name in seen:
                continue
            seen.add(head.name)
            name = f"data.{package}.{head.name}"
            line, _ = position(text, head.offset)
            results.append(_result(name, bundle.file(module), line, run))
    passed = sum(r.passed for r in results)
    logger.info(
        "policy tests in %s on %s: %d passed, %d failed",
        bundle.path,
        engine,
        passed,
        len(results) - passed,
    )
    return results


class _Failed(Exception):
    """Evaluating a test rule raised an error; the message says which."""


# A runner evaluates one rule (``data.pkg.test_x``): its value, UNDEFINED, or _Failed.
_Runner = Callable[[str], Any]


def _regopy_runner(bundle: Bundle) -> _Runner:
    interp, _ = compile_modules(bundle, "x := true", with_tests=True, probe=True)

    def run(name: str) -> Any:
        try:
            return evaluate_query(interp, f"x := {name}")
        except EvaluationError as exc:
            raise _Failed(str(exc)) from None

    return run


def _opa_runner(bundle: Bundle) -> _Runner:
    bindings = opa_bindings()
    opa = compile_on_opa(bundle, with_tests=True)

    def run(name: str) -> Any:
        try:
            return opa.eval_document(name.removeprefix("data."))
        except bindings.OpaUndefinedError:
            return UNDEFINED
        except bindings.OpaError as exc:
            file, line, _, message = locate(exc.message, bundle)
            raise _Failed(f"{file}:{line}: {message}" if line else message) from None

    return run


def _result(name: str, file: str, line: int, run: _Runner) -> PolicyTestResult:
    try:
        value = run(name)
    except _Failed as exc:
        return PolicyTestResult(name, False, f"error: {exc}", file, line)
    if value is UNDEFINED:
        return PolicyTestResult(
            name, False, "undefined: a body expression was false or undefined", file, line
        )
    if value is not True:
        return PolicyTestResult(name, False, f"evaluated to {value!r}, expected true", file, line)
    return PolicyTestResult(name, True, "", file, line)
