"""The embedded Rego engine: the default bundle, load errors, and failing closed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.policy_input import attribute, changed, feature, group, policy_input
from support.rego import EMPTY, V0_POLICY, V1

from fedgov.errors import PolicyError
from fedgov.policy import Decision, PolicyEngine, RegoEngine, default_bundle_path

DEFAULT = default_bundle_path()

HEALTHY = policy_input(
    features={"age": feature(0.05, 0.4), "income": feature(0.1, 0.2, 0.01)},
    fairness={
        "sex": attribute(
            0.05, 0.9, 0.1, {"f": group(480, 0.45), "m": group(520, 0.5, tpr=0.82, fpr=0.12)}
        )
    },
)


def with_changes(**paths: Any) -> dict[str, Any]:
    """HEALTHY with values replaced; keys are paths joined by '__'."""
    return changed(HEALTHY, paths, sep="__")


@pytest.fixture(scope="module")
def engine() -> RegoEngine:
    return RegoEngine.from_bundle(DEFAULT)


def make_bundle(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def policy_bundle(root: Path, text: str) -> Path:
    """A bundle of one module, policy.rego."""
    return make_bundle(root, {"policy.rego": text})


# --- the default bundle -----------------------------------------------------


def test_engine_satisfies_protocol(engine: RegoEngine) -> None:
    assert isinstance(engine, PolicyEngine)
    assert engine.digest.startswith("sha256:")


def test_healthy_model_is_allowed(engine: RegoEngine) -> None:
    assert engine.evaluate(HEALTHY) == Decision(allow=True, bundle_digest=engine.digest)


def test_significant_drift_denies_and_asks_for_retraining(engine: RegoEngine) -> None:
    d = engine.evaluate(
        with_changes(drift__features__age__psi=0.35, drift__features__age__psi_pvalue=0.001)
    )
    assert d.allow is False
    assert d.actions == ("retrain",)
    assert len(d.deny) == 1
    assert "age" in d.deny[0] and "0.35" in d.deny[0]


def test_drift_that_is_not_significant_is_allowed(engine: RegoEngine) -> None:
    d = engine.evaluate(
        with_changes(drift__features__age__psi=0.35, drift__features__age__psi_pvalue=0.5)
    )
    assert d.allow is True and d.actions == ()


def test_four_fifths_rule(engine: RegoEngine) -> None:
    d = engine.evaluate(with_changes(fairness__sex__demographic_parity_ratio=0.7))
    assert d.allow is False
    assert d.actions == ("retrain",)
    assert "sex" in d.deny[0] and "0.7" in d.deny[0] and "four-fifths" in d.deny[0]
    assert engine.evaluate(with_changes(fairness__sex__demographic_parity_ratio=0.8)).allow


def test_equalized_odds_only_warns(engine: RegoEngine) -> None:
    d = engine.evaluate(with_changes(fairness__sex__equalized_odds_difference=0.3))
    assert d.allow is True
    assert d.actions == ()
    assert len(d.warn) == 1 and "equalized odds" in d.warn[0] and "sex" in d.warn[0]


def test_small_sample_warns_and_gives_no_verdict(engine: RegoEngine) -> None:
    d = engine.evaluate(
        with_changes(
            sample_size=10,
            fairness__sex__demographic_parity_ratio=0.1,
            drift__features__age__psi=0.9,
            drift__features__age__psi_pvalue=0.0,
        )
    )
    assert d.allow is True
    assert d.deny == () and d.actions == ()
    assert d.warn == ("sample size 10 < 50: no verdict on drift or fairness for this window",)


def test_null_metrics_are_skipped(engine: RegoEngine) -> None:
    d = engine.evaluate(
        with_changes(
            drift__features__age={"psi": None, "psi_pvalue": None, "missing_rate": None},
            fairness__sex__demographic_parity_ratio=None,
            fairness__sex__equalized_odds_difference=None,
        )
    )
    assert d == Decision(allow=True, bundle_digest=engine.digest)


def test_numpy_values_are_converted(engine: RegoEngine) -> None:
    plain = with_changes(drift__features__age__psi=0.35, drift__features__age__psi_pvalue=0.001)
    numpy = with_changes(
        sample_size=np.int64(1000),
        drift__features__age__psi=np.float64(0.35),
        drift__features__age__psi_pvalue=np.float32(0.001),
        fairness__sex__demographic_parity_ratio=np.float32(0.9),
        fairness__sex__groups__f__count=np.int32(480),
        extra=np.array([1.5, 2.5]),
    )
    assert engine.evaluate(numpy) == engine.evaluate(plain)
    assert engine.evaluate(numpy).actions == ("retrain",)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("nan")])
def test_nan_in_input_fails_closed_naming_the_field(engine: RegoEngine, bad: float) -> None:
    d = engine.evaluate(with_changes(drift__features__age__psi=bad))
    assert d.allow is False and d.failed_closed
    assert "input.drift.features.age.psi" in d.deny[0]
    assert d.bundle_digest == engine.digest


def test_input_that_is_not_json_fails_closed(engine: RegoEngine) -> None:
    assert engine.evaluate([1, 2]).failed_closed  # type: ignore[arg-type]
    d = engine.evaluate({"sample_size": 100, "when": object()})
    assert d.failed_closed and "input.when" in d.deny[0]
    d = engine.evaluate({"sample_size": 100, "fairness": {1: {}}})
    assert d.failed_closed and "not a string" in d.deny[0]


def test_concurrent_evaluation_from_four_threads(engine: RegoEngine) -> None:
    cases = [
        (HEALTHY, True),
        (with_changes(fairness__sex__demographic_parity_ratio=0.5), False),
        (with_changes(sample_size=3), True),
        (
            with_changes(
                drift__features__income__psi=0.4, drift__features__income__psi_pvalue=0.0001
            ),
            False,
        ),
    ]
    expected = [engine.evaluate(inp) for inp, _ in cases]
    assert [d.allow for d in expected] == [allow for _, allow in cases]
    failures: list[str] = []
    barrier = threading.Barrier(len(cases))

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(40):
            got = engine.evaluate(cases[i][0])
            if got != expected[i]:
                failures.append(f"thread {i}: {got}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# --- load errors --------------------------------------------------------------


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    root = make_bundle(
        tmp_path,
        {
            "policy.rego": (
                "package fedgov\n\n"
                'decision := {"allow": true, "deny": [], "warn": [], "actions": []}\n'
            ),
            "rules.rego": "package fedgov\n\nimport rego.v1\n\nbad if {\n  input.x ==\n}\n",
        },
    )
    with pytest.raises(PolicyError) as info:
        RegoEngine.from_bundle(root)
    err = info.value
    assert err.file == str(root / "rules.rego")
    assert err.line == 6
    assert err.column == 11
    assert "rules.rego:6:11: " in str(err)


def test_syntax_error_with_unicode_before_it(tmp_path: Path) -> None:
    root = policy_bundle(tmp_path, 'package fedgov\n# café, naïve\ndecision := {"é": 1 +}\n')
    with pytest.raises(PolicyError) as info:
        RegoEngine.from_bundle(root)
    assert (info.value.line, info.value.column) == (3, 14)


def test_bundle_without_decision_rule_is_rejected(tmp_path: Path) -> None:
    root = policy_bundle(tmp_path, V1 + "allow := true\n")
    with pytest.raises(PolicyError, match=r"no rule produces data\.fedgov\.decision"):
        RegoEngine.from_bundle(root)


def test_decision_from_a_package_is_accepted(tmp_path: Path) -> None:
    root = policy_bundle(
        tmp_path,
        "package fedgov.decision\n\nimport rego.v1\n\nallow := true\n"
        "deny := set()\nwarn := set()\nactions := set()\n",
    )
    engine = RegoEngine.from_bundle(root)
    assert engine.evaluate({}) == Decision(allow=True, bundle_digest=engine.digest)


def test_rule_kind_conflict_is_a_load_error_not_a_crash(tmp_path: Path) -> None:
    # rego-cpp builds a bundle that is not ok(); querying it would crash.
    root = policy_bundle(tmp_path, V1 + "decision := 1\n\ndecision contains 2 if true\n")
    with pytest.raises(PolicyError) as info:
        RegoEngine.from_bundle(root)
    assert info.value.file == str(root / "policy.rego")


def test_construct_that_aborts_rego_cpp_is_a_load_error(tmp_path: Path) -> None:
    root = policy_bundle(
        tmp_path,
        V1 + "big if input.n > 1\n\n"
        'decision := {"allow": b, "deny": [], "warn": [], "actions": []} if {\n'
        '  b := big with input as {"n": 2}\n}\n',
    )
    with pytest.raises(PolicyError, match="rego-cpp failed compiling"):
        RegoEngine.from_bundle(root)


def test_unknown_function_is_a_load_error(tmp_path: Path) -> None:
    root = policy_bundle(
        tmp_path, V1 + f"decision := {EMPTY} if {{\n" + '  http.send({"url": "x"})\n}\n'
    )
    with pytest.raises(PolicyError, match=r"unknown function http\.send\(\)") as info:
        RegoEngine.from_bundle(root)
    assert (info.value.line, info.value.column) == (6, 3)


def test_v0_syntax_is_refused_at_its_line(tmp_path: Path) -> None:
    """OPA 1.x refuses Rego v0; rego-cpp would read it (differently), so fedgov refuses it."""
    root = policy_bundle(tmp_path, V0_POLICY)
    with pytest.raises(PolicyError, match=r"Rego v0 syntax: `if` is required") as info:
        RegoEngine.from_bundle(root)
    assert (info.value.file, info.value.line) == (str(root / "policy.rego"), 4)


# --- failing closed -------------------------------------------------------------


def decide_with(tmp_path: Path, rego: str, inp: dict[str, Any] | None = None) -> Decision:
    root = policy_bundle(tmp_path, V1 + rego)
    return RegoEngine.from_bundle(root).evaluate(inp or {})


def test_string_where_boolean_is_required_fails_closed(tmp_path: Path) -> None:
    d = decide_with(
        tmp_path, 'decision := {"allow": "yes", "deny": [], "warn": [], "actions": []}\n'
    )
    assert d.allow is False and d.failed_closed
    assert "data.fedgov.decision.allow must be a boolean, not the string 'yes'" in d.deny[0]


def test_false_decision_is_not_mistaken_for_undefined(tmp_path: Path) -> None:
    d = decide_with(tmp_path, "decision := false\n")
    assert d.failed_closed and "must be an object" in d.deny[0] and "false" in d.deny[0]


def test_undefined_decision_fails_closed(tmp_path: Path) -> None:
    d = decide_with(
        tmp_path,
        'decision := {"allow": true, "deny": [], "warn": [], "actions": []} if input.ready\n',
        {"ready": False},
    )
    assert d.failed_closed and "undefined" in d.deny[0]


def test_evaluation_conflict_fails_closed(tmp_path: Path) -> None:
    d = decide_with(
        tmp_path,
        (
            'decision := {"allow": true, "deny": [], "warn": [], "actions": []} if input.a\n'
            'decision := {"allow": false, "deny": ["b"], "warn": [], "actions": []} if input.b\n'
        ),
        {"a": True, "b": True},
    )
    assert d.failed_closed and "complete rules must not produce multiple outputs" in d.deny[0]


def test_v0_partial_set_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="deny contains msg if") as info:
        decide_with(
            tmp_path,
            (
                'deny[msg] { input.x > 1; msg := "big" }\n'
                'decision := {"allow": count(deny) == 0, "deny": deny, "warn": [], "actions": []}\n'
            ),
            {"x": 2},
        )
    assert info.value.line == 5
