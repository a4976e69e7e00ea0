"""Run the Rego tests that live beside a bundle's policies.

Every rule whose name starts with ``test_`` in a ``*_test.rego`` module is a
test; it passes when it evaluates to ``true``, as with ``opa test``. Tests
see the bundle's modules and data.json, and set their input with
``with input as {...}``. ``fedgov policy test BUNDLE`` prints these results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import regopy  # type: ignore[import-untyped]

from fedgov.policy._bundle import check_decision_rule, load_bundle, package_of, position, rule_heads
from fedgov.policy._regopy import UNDEFINED, EvaluationError, compile_modules, evaluate_query

__all__ = ["PolicyTestResult", "run_policy_tests"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyTestResult:
    """One test rule: ``name`` is ``data.<package>.<rule>``; ``message`` says why it failed."""

    name: str
    passed: bool
    message: str = ""
    file: str = ""
    line: int = 0


def run_policy_tests(path: str | Path) -> list[PolicyTestResult]:
    """Run every ``test_*`` rule of the bundle at ``path``, in file and line order.

    Raises :class:`~fedgov.errors.PolicyError` when the bundle (tests
    included) does not load or compile; a bundle without tests gives ``[]``.
    """
    bundle = load_bundle(path)
    interp, _ = compile_modules(bundle, "x := true", with_tests=True, probe=True)
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
            results.append(_run_one(interp, name, bundle.file(module), line))
    passed = sum(r.passed for r in results)
    logger.info(
        "policy tests in %s: %d passed, %d failed", bundle.path, passed, len(results) - passed
    )
    return results


def _run_one(interp: regopy.Interpreter, name: str, file: str, line: int) -> PolicyTestResult:
    try:
        value = evaluate_query(interp, f"x := {name}")
    except EvaluationError as exc:
        return PolicyTestResult(name, False, f"error: {exc}", file, line)
    if value is UNDEFINED:
        return PolicyTestResult(
            name, False, "undefined: a body expression was false or undefined", file, line
        )
    if value is not True:
        return PolicyTestResult(name, False, f"evaluated to {value!r}, expected true", file, line)
    return PolicyTestResult(name, True, "", file, line)
