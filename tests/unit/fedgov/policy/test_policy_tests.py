"""Running the *_test.rego tests of a bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedgov.errors import ConfigError, PolicyError
from fedgov.policy import TEST_ENGINES, PolicyTestResult, default_bundle_path, run_policy_tests

DEFAULT = default_bundle_path()

POLICY = (
    "package fedgov\n\nimport rego.v1\n\n"
    "ok(inp) if inp.n > 1\n\n"
    'decision := {"allow": ok(input), "deny": [], "warn": [], "actions": []}\n'
)


def make_bundle(root: Path, tests: str) -> Path:
    (root / "policy.rego").write_text(POLICY, encoding="utf-8")
    (root / "policy_test.rego").write_text(tests, encoding="utf-8")
    return root


@pytest.mark.parametrize("engine", TEST_ENGINES)
def test_default_bundle_tests_pass(engine: str) -> None:
    results = run_policy_tests(DEFAULT, engine=engine)
    assert len(results) >= 10
    failed = [r for r in results if not r.passed]
    assert failed == []
    assert all(r.name.startswith("data.fedgov_test.test_") for r in results)
    names = {r.name.rsplit(".", 1)[1] for r in results}
    assert {
        "test_significant_drift_denies_and_retrains",
        "test_four_fifths_rule_denies_and_retrains",
        "test_equalized_odds_only_warns",
        "test_small_sample_warns_without_verdict",
        "test_null_metrics_are_skipped",
    } <= names


@pytest.mark.parametrize("engine", TEST_ENGINES)
def test_failing_tests_are_reported(tmp_path: Path, engine: str) -> None:
    root = make_bundle(
        tmp_path,
        (
            "package fedgov_test\n\nimport rego.v1\n\n"
            'test_passes if data.fedgov.ok({"n": 5})\n\n'
            'test_fails if data.fedgov.ok({"n": 0})\n\n'
            "test_not_true := 5\n\n"
            "helper := 1\n\n"
            "test_helper_function(x) := x\n\n"
            "test_errors := 1 if input.x\ntest_errors := 2 if input.x\n"
        ),
    )
    (root / "other_test.rego").write_text(
        "package other_test\n\nimport rego.v1\n\ntest_also_passes if { 1 + 1 == 2 }\n",
        encoding="utf-8",
    )
    results = {r.name: r for r in run_policy_tests(root, engine=engine)}
    assert set(results) == {
        "data.fedgov_test.test_passes",
        "data.fedgov_test.test_fails",
        "data.fedgov_test.test_not_true",
        "data.fedgov_test.test_errors",
        "data.other_test.test_also_passes",
    }
    assert results["data.fedgov_test.test_passes"] == PolicyTestResult(
        "data.fedgov_test.test_passes", True, "", str(root / "policy_test.rego"), 5
    )
    assert results["data.other_test.test_also_passes"].passed
    fails = results["data.fedgov_test.test_fails"]
    assert not fails.passed and "undefined" in fails.message and fails.line == 7
    assert not results["data.fedgov_test.test_not_true"].passed
    assert "evaluated to 5" in results["data.fedgov_test.test_not_true"].message
    assert not results["data.fedgov_test.test_errors"].passed


def test_bundle_without_tests_gives_no_results(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(POLICY, encoding="utf-8")
    assert run_policy_tests(tmp_path) == []


def test_syntax_error_in_a_test_module_names_it(tmp_path: Path) -> None:
    root = make_bundle(tmp_path, "package fedgov_test\n\ntest_x if {\n  1 ==\n}\n")
    with pytest.raises(PolicyError) as info:
        run_policy_tests(root)
    assert info.value.file == str(root / "policy_test.rego")
    assert info.value.line == 4


def test_with_input_on_builtins_is_a_clear_error(tmp_path: Path) -> None:
    # rego-cpp 1.5.2 aborts its process on this; the runner must not.
    root = make_bundle(
        tmp_path,
        (
            "package fedgov_test\n\nimport rego.v1\n\n"
            'test_with if {\n  inp := {"n": 5}\n'
            "  d := data.fedgov.decision with input as inp\n  d.allow\n}\n"
        ),
    )
    with pytest.raises(PolicyError, match="rego-cpp failed compiling"):
        run_policy_tests(root)
    # OPA's own evaluator runs it: the verdict(inp) style of the packs is for rego-cpp only
    (result,) = run_policy_tests(root, engine="opa-go")
    assert result.passed


def test_unknown_test_engine_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown policy engine 'opa'"):
        run_policy_tests(make_bundle(tmp_path, ""), engine="opa")
