"""The Colorado regime: the card's statements, the merged figures as the query answers
them, mitigations from the registry's lineage, and the same bytes twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.report_source import EU_BUNDLE, MODEL, fake_source, report_args, write_model_card

from aggregator.reports.document import canonical_json, has_valid_hash
from aggregator.reports.regimes import colorado
from aggregator.reports.source import ReportArgs
from fedgov.errors import ConfigError


def Args(**kw: Any) -> ReportArgs:  # noqa: N802 - reads like the class it makes
    return report_args("colorado", **kw)


def regime_source() -> Any:
    return fake_source()


def _blocks(doc: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    return next(s for s in doc["sections"] if s["id"] == sid)["blocks"]


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_card(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def doc(card: Path) -> dict[str, Any]:
    return colorado.build(regime_source(), Args(model_card=card, policies=(str(EU_BUNDLE),)))


def test_without_a_model_card_it_says_what_to_pass() -> None:
    with pytest.raises(ConfigError, match="--model-card FILE"):
        colorado.build(regime_source(), Args())


def test_purpose_and_limitations_come_from_the_card(doc: dict[str, Any]) -> None:
    items = dict(_blocks(doc, "purpose")[0]["items"])
    assert items["Owner"] == "Credit Risk Team"
    assert items["Deployment context"] == "retail branches in DE, FR and NY"
    assert items["Contact"] == "credit-risk@example.org"
    assert _blocks(doc, "performance")[1]["paragraphs"] == ["trained on applicants aged 18 to 90"]
    assert doc["evidence"]["model_card_sha256"].startswith("sha256:")


def test_inputs_are_the_features_and_attributes_the_metrics_cover(doc: dict[str, Any]) -> None:
    rows = {r["name"]: r["category"] for r in _blocks(doc, "data")[0]["rows"]}
    metrics = regime_source().fairness(MODEL, model_version="1.0.0").metrics
    assert set(rows) == set(metrics["drift"]["features"]) | set(metrics["fairness"])
    assert rows["income"] == "numeric feature" and rows["purpose"] == "categorical feature"
    assert rows["sex"] == "sensitive attribute"
    assert rows["sex*age_band"] == "intersection of sensitive attributes"
    assert any("score" in p for p in _blocks(doc, "data")[1]["paragraphs"])


def test_impact_ratios_are_rate_over_the_highest_rate(doc: dict[str, Any]) -> None:
    blocks = _blocks(doc, "discrimination")
    plots = {b["data"]["label"]: b for b in blocks if b["kind"] == "plot"}
    impact = next(b for b in blocks if b["kind"] == "table")
    attrs = ["age_band", "race_ethnicity", "sex", "sex*age_band", "sex*race_ethnicity"]
    assert sorted(plots) == [f"Selection rate ({a})" for a in attrs]
    plot = plots["Selection rate (sex)"]
    ny = regime_source().fairness(MODEL, model_version="1.0.0", jurisdiction_glob="US-NY")
    groups = ny.metrics["fairness"]["sex"]["groups"]
    rows = {r["group"]: r for r in impact["rows"] if r["scope"] == "US-NY"}
    rows = {g: r for g, r in rows.items() if r["attribute"] == "sex"}
    top = max(groups["F"]["selection_rate"], groups["M"]["selection_rate"])
    assert rows["F"]["impact_ratio"] == groups["F"]["selection_rate"] / top < 0.8
    assert rows["M"]["impact_ratio"] == 1.0
    assert rows["F"]["selected"] == round(groups["F"]["selection_rate"] * groups["F"]["count"])
    assert f"Privacy path of the US-NY figures: {ny.source}." in impact["notes"]
    # the plot shows the merged figures over every silo, with the 0.8 line
    assert plot["plot"] == "selection_rates" and plot["data"]["threshold"] == 0.8
    overall = {
        r["group"]: r for r in impact["rows"] if r["scope"] == "*" and r["attribute"] == "sex"
    }
    assert {g["name"]: g["impact_ratio"] for g in plot["data"]["groups"]} == {
        g: r["impact_ratio"] for g, r in overall.items()
    }
    assert all(
        set(g) == {"name", "rate", "impact_ratio", "small", "withheld"}
        for g in plot["data"]["groups"]
    )


def test_mitigations_name_the_reweighed_retraining(doc: dict[str, Any]) -> None:
    text = " ".join(_blocks(doc, "mitigations")[0]["paragraphs"])
    assert "version 1.0.1 was retrained from 1.0.0 reweighing sex (job job-1)" in text
    monitoring = _blocks(doc, "monitoring")
    assert [r["silo"] for r in monitoring[0]["rows"]] == ["de-1", "fr-1", "ny-1"]
    assert {r["median_interval"] for r in monitoring[2]["rows"]} == {"1.0 d"}


def test_same_answers_same_bytes(card: Path) -> None:
    one = colorado.build(regime_source(), Args(model_card=card))
    two = colorado.build(regime_source(), Args(model_card=card))
    assert canonical_json(one) == canonical_json(two) and has_valid_hash(one)
    assert one["regime"] == "colorado"
