"""The policy packs in deploy/policies/: their Rego tests, and decisions on real metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fedgov.metrics import compute_metrics
from fedgov.policy import (
    TEST_ENGINES,
    Decision,
    PolicyTestResult,
    RegoEngine,
    default_bundle_path,
    run_policy_tests,
)
from fedgov.spec import MonitoringSpec
from fedgov.stats import WindowStats, encode_columns
from fedgov.synthetic import credit_data

POLICIES = Path(__file__).resolve().parents[3] / "deploy" / "policies"
PACKS = ("us-four-fifths", "nyc-ll144", "eu")
SHARED = ("thresholds.rego", "thresholds_test.rego")


@pytest.fixture(scope="module", params=PACKS)
def pack(request: pytest.FixtureRequest) -> Path:
    return POLICIES / request.param


@pytest.fixture(scope="module", params=TEST_ENGINES)
def test_results(pack: Path, request: pytest.FixtureRequest) -> list[PolicyTestResult]:
    """The pack's Rego tests, on rego-cpp and on OPA's own evaluator: both must pass them."""
    return run_policy_tests(pack, engine=request.param)


@pytest.fixture(scope="module")
def engines() -> dict[str, RegoEngine]:
    return {name: RegoEngine.from_bundle(POLICIES / name) for name in PACKS}


def test_every_pack_has_its_tests_and_they_pass(
    pack: Path, test_results: list[PolicyTestResult]
) -> None:
    failed = [(r.name, r.message) for r in test_results if not r.passed]
    assert failed == []
    own = [r for r in test_results if r.name.startswith("data.fedgov_test.test_")]
    assert len(own) >= 5, f"{pack.name} has {len(own)} policy tests"
    shared = [r for r in test_results if r.name.startswith("data.fedgov_thresholds_test.test_")]
    assert len(shared) >= 5


def test_every_pack_loads_in_the_engine(engines: dict[str, RegoEngine]) -> None:
    for name, engine in engines.items():
        assert engine.digest.startswith("sha256:"), name
        assert engine.bundle.tests, f"{name} has no *_test.rego"


def test_threshold_resolution_is_the_same_file_in_every_pack() -> None:
    for file in SHARED:
        texts = {name: (POLICIES / name / file).read_text(encoding="utf-8") for name in PACKS}
        assert len(set(texts.values())) == 1, f"{file} differs between packs: edit them together"


def test_thresholds_live_in_data_json_per_jurisdiction(engines: dict[str, RegoEngine]) -> None:
    for name, engine in engines.items():
        table = engine.bundle.data["fedgov"]["thresholds"]
        assert isinstance(table["default"], dict) and table["default"], name
        assert set(table) - {"default"}, f"{name} has no jurisdiction-specific entry"


def test_default_pack_points_at_the_embedded_bundle() -> None:
    readme = (POLICIES / "default" / "README.md").read_text(encoding="utf-8")
    assert "fedgov/policy/bundles/default" in readme
    assert (default_bundle_path() / "policy.rego").is_file()
    assert not list((POLICIES / "default").glob("*.rego")), "do not duplicate the default bundle"


def test_readme_names_every_pack() -> None:
    readme = (POLICIES / "README.md").read_text(encoding="utf-8")
    for name in (*PACKS, "default"):
        assert f"`{name}/`" in readme


# --- decisions on metrics computed from data -----------------------------------


def _policy_input(
    spec: MonitoringSpec,
    jurisdiction: str,
    rows: int = 4000,
    *,
    window_end: datetime | None = None,
    **kw: float,
) -> dict[str, Any]:
    columns = credit_data(rows, seed=7, **kw)
    stats = WindowStats.zero(spec).fold(spec, encode_columns(spec, columns))
    end = window_end or datetime.now(UTC) - timedelta(hours=1)
    return {
        "model": {"id": spec.model_id, "version": spec.model_version},
        "silo": "bank-a",
        "jurisdiction": jurisdiction,
        "window": {"start": (end - timedelta(days=7)).isoformat(), "end": end.isoformat()},
        **compute_metrics(spec, stats),
    }


def _decide(engine: RegoEngine, policy_input: dict[str, Any]) -> Decision:
    decision = engine.evaluate(policy_input)
    assert not decision.failed_closed, decision.deny
    # Whatever the engine returned must survive a JSON round trip (audit log).
    assert Decision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision
    return decision


@pytest.mark.parametrize("jurisdiction", ["US-NY", "US-CA", "*"])
def test_four_fifths_allows_fair_and_denies_biased(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec, jurisdiction: str
) -> None:
    engine = engines["us-four-fifths"]
    fair = _decide(engine, _policy_input(credit_spec, jurisdiction))
    assert fair.allow and fair.deny == () and fair.actions == ()

    biased = _decide(engine, _policy_input(credit_spec, jurisdiction, bias=0.15))
    assert not biased.allow
    assert biased.actions == ("retrain",)
    sex = [r for r in biased.deny if "attribute sex has" in r]
    assert len(sex) == 1 and "group F selection rate" in sex[0] and "< 0.8" in sex[0]
    assert not any("attribute age_band has" in r for r in biased.deny)  # age_band alone is fair
    # New York adds intersections; the other jurisdictions use the default.
    assert any("attribute sex*age_band" in r for r in biased.deny) == (jurisdiction == "US-NY")


def test_four_fifths_ratio_equals_the_demographic_parity_ratio(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    policy_input = _policy_input(credit_spec, "US-CA", bias=0.15)
    expected = policy_input["fairness"]["sex"]["demographic_parity_ratio"]
    (reason,) = _decide(engines["us-four-fifths"], policy_input).deny
    assert f"disparate impact {expected:.4f} < 0.8" in reason


def test_four_fifths_gives_no_verdict_on_tiny_groups(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    decision = _decide(engines["us-four-fifths"], _policy_input(credit_spec, "US-CA", rows=40))
    assert decision.allow
    assert (
        "four-fifths rule: attribute sex not assessed: fewer than 2 groups with at least 30 rows"
        in decision.warn
    )


def test_ll144_reports_every_ratio_and_denies_biased(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    engine = engines["nyc-ll144"]
    fair = _decide(engine, _policy_input(credit_spec, "US-NY"))
    assert fair.allow and fair.actions == ()
    # sex: F, M; age_band: 3 bands; sex*age_band: 6 categories.
    assert len([w for w in fair.warn if w.startswith("LL144 impact ratio: ")]) == 11

    biased = _decide(engine, _policy_input(credit_spec, "US-NY", bias=0.15))
    assert not biased.allow and biased.actions == ("retrain",)
    denied = {r.split(" has impact ratio")[0] for r in biased.deny}
    assert denied == {
        "LL144: sex category F",
        "LL144: sex*age_band category F|30-49",
        "LL144: sex*age_band category F|50+",
        "LL144: sex*age_band category F|<30",
    }


def test_eu_allows_fair_and_denies_biased_with_human_review(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    engine = engines["eu"]
    fair = _decide(engine, _policy_input(credit_spec, "EU-DE"))
    assert fair.allow and fair.warn == () and fair.actions == ()

    biased = _decide(engine, _policy_input(credit_spec, "EU-*", bias=0.15))
    assert not biased.allow
    assert biased.actions == ("block", "retrain")
    assert any(
        r.startswith("fairness: attribute sex has demographic parity difference")
        for r in biased.deny
    )
    assert any(w.startswith("human review required") for w in biased.warn)


def test_eu_denies_significant_drift(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    decision = _decide(engines["eu"], _policy_input(credit_spec, "EU-FR", drift=1.0))
    assert not decision.allow
    drifted = {r.split(" has PSI")[0] for r in decision.deny}
    assert {"drift: feature income", "drift: feature debt_ratio"} <= drifted
    assert "retrain" in decision.actions


def test_eu_gives_no_verdict_on_a_tiny_sample(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    decision = _decide(engines["eu"], _policy_input(credit_spec, "EU-DE", rows=30, bias=0.15))
    assert decision.allow
    assert decision.actions == ()
    assert decision.warn == (
        "sample size 30 < 200: no verdict on drift, fairness or data quality for this window",
    )


def test_eu_denies_stale_evidence_by_jurisdiction(
    engines: dict[str, RegoEngine], credit_spec: MonitoringSpec
) -> None:
    four_days_ago = datetime.now(UTC) - timedelta(hours=96)
    eu = _decide(engines["eu"], _policy_input(credit_spec, "EU-DE", window_end=four_days_ago))
    assert not eu.allow
    assert eu.actions == ("block",)
    assert eu.deny[0].startswith("data freshness: the window ended 96.")
    # Outside the EU-* entry the default allows a week.
    other = _decide(engines["eu"], _policy_input(credit_spec, "CH", window_end=four_days_ago))
    assert other.allow
