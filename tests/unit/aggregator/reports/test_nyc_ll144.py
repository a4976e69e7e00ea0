"""The nyc-ll144 regime on real merged metrics, checked against pandas on the same rows."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from support.report_source import FakeSource, fake_source, replace

from aggregator.reports.document import canonical_json, has_valid_hash
from aggregator.reports.regimes import nyc_ll144
from aggregator.reports.source import ReportArgs
from fedgov.synthetic import RACE_ETHNICITY

ARGS = ReportArgs(model="hiring")


@pytest.fixture(scope="module")
def src() -> FakeSource:
    return fake_source(3000)


@pytest.fixture(scope="module")
def doc(src: FakeSource) -> dict[str, Any]:
    return nyc_ll144.build(src, ARGS)


def _section(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["sections"] if s["id"] == sid)


def _tables(doc: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    return [b for b in _section(doc, sid)["blocks"] if b["kind"] == "table"]


def _oracle(rows: pd.DataFrame, key: pd.Series, rate: pd.Series) -> pd.DataFrame:
    """Per category: individuals, rate, impact ratio (over the highest among >= 2%)."""
    known = key.notna()
    total = len(rows)
    g = pd.DataFrame({"key": key[known], "rate": rate[known]}).groupby("key")["rate"]
    out = pd.DataFrame({"n": g.size(), "rate": g.mean()})
    top = out.loc[out["n"] / total >= 0.02, "rate"].max()
    out["ratio"] = out["rate"] / top
    out["small"] = out["n"] / total < 0.02
    return out


def _check(table: dict[str, Any], oracle: pd.DataFrame, rate_key: str) -> None:
    assert [r["category"] for r in table["rows"]] == sorted(oracle.index)
    for i, row in enumerate(table["rows"]):
        want = oracle.loc[row["category"]]
        assert row["individuals"] == want["n"]
        assert row[rate_key] == pytest.approx(want["rate"], abs=1e-12)
        assert row["impact_ratio"] == pytest.approx(want["ratio"], abs=1e-12)
        assert (table["marks"].get(str(i)) == "< 2%") == bool(want["small"])


def test_selection_rates_and_impact_ratios_equal_pandas_on_the_pooled_rows(
    src: FakeSource, doc: dict[str, Any]
) -> None:
    rows = src.rows
    sex, race = rows["sex"], rows["race_ethnicity"]
    inter = (sex + " / " + race).where(race.notna())
    for sid, key in (("sex", sex), ("race", race), ("intersection", inter)):
        table = _tables(doc, sid)[0]
        _check(table, _oracle(rows, key, rows["approved"].astype(float)), "selection_rate")
        for row in table["rows"]:
            assert row["selected"] == rows.loc[key == row["category"], "approved"].sum()


def test_women_in_ny_fall_below_four_fifths(src: FakeSource, doc: dict[str, Any]) -> None:
    table = _tables(doc, "sex")[0]
    ratios = {r["category"]: r["impact_ratio"] for r in table["rows"]}
    assert ratios["M"] == 1.0 and ratios["F"] < 0.8
    plot = next(b for b in _section(doc, "sex")["blocks"] if b["kind"] == "plot")
    assert plot["data"]["threshold"] == 0.8
    assert [g["name"] for g in plot["data"]["groups"]] == ["F", "M"]
    assert "F 0." in plot["alt"]


def test_every_category_is_present_and_those_under_two_percent_marked(
    doc: dict[str, Any],
) -> None:
    table = _tables(doc, "race")[0]
    names = [r["category"] for r in table["rows"]]
    assert sorted(names) == sorted(RACE_ETHNICITY)
    small = {names[int(i)] for i, m in table["marks"].items() if m == "< 2%"}
    assert small == {"Native Hawaiian or Pacific Islander", "Native American or Alaska Native"}
    assert any("5-301(d)" in n for n in table["notes"])


def test_unknown_category_is_counted_not_tabulated(src: FakeSource, doc: dict[str, Any]) -> None:
    missing = int(src.rows["race_ethnicity"].isna().sum())
    assert missing > 0
    facts = dict(next(b for b in _section(doc, "race")["blocks"] if b["kind"] == "facts")["items"])
    assert facts["Individuals of unknown category"] == missing
    table = _tables(doc, "race")[0]
    assert sum(r["individuals"] for r in table["rows"]) + missing == len(src.rows)
    assert all("__" not in r["category"] for r in table["rows"])


def test_scoring_rate_variant_states_its_bound_and_matches_the_rows(
    src: FakeSource, doc: dict[str, Any]
) -> None:
    selection, scoring = _tables(doc, "sex")
    block = src.fairness("hiring").metrics["fairness"]["sex"]
    cut, low = block["score_cut"], block["score_cut_low"]
    assert any(f"[{low}, {cut}]" in n for n in scoring["notes"])
    rows = src.rows
    above = (rows["score"] >= cut).astype(float)
    _check(scoring, _oracle(rows, rows["sex"], above), "scoring_rate")
    median = rows["score"].median()
    for row in scoring["rows"]:
        share = (rows.loc[rows["sex"] == row["category"], "score"] > median).mean()
        assert row["scoring_rate"] - 1e-12 <= share <= row["scoring_rate_upper"] + 1e-12


def test_withheld_figures_are_withheld_cells_with_their_rows(src: FakeSource) -> None:
    held = ({"table": "outcome", "name": "race_ethnicity", "group": "Asian", "rows": 7},)
    withheld = replace(src, withheld=held, source_text="exact, secure sum of 3 silos")
    doc = nyc_ll144.build(withheld, ARGS)
    table = _tables(doc, "race")[0]
    row = next(r for r in table["rows"] if r["category"] == "Asian")
    for key in ("individuals", "selected", "selection_rate", "impact_ratio"):
        assert row[key] == {"withheld": 7}
    plot = next(b for b in _section(doc, "race")["blocks"] if b["kind"] == "plot")
    assert next(g for g in plot["data"]["groups"] if g["name"] == "Asian")["withheld"] is True
    assert any("exact, secure sum of 3 silos" in n for n in table["notes"])


def test_a_spec_without_race_says_so_plainly(src: FakeSource) -> None:
    doc = nyc_ll144.build(src, ReportArgs(model="hiring", race_attribute="ethnicity"))
    (text,) = _section(doc, "race")["blocks"]
    assert "declares no attribute 'ethnicity'" in text["paragraphs"][0]
    assert "--race-attribute" in text["paragraphs"][0]
    assert _section(doc, "intersection")["blocks"][0]["kind"] == "text"


def test_the_same_source_gives_the_same_bytes_and_the_hash_catches_an_edit(
    src: FakeSource, doc: dict[str, Any]
) -> None:
    again = nyc_ll144.build(src, ARGS)
    assert canonical_json(again) == canonical_json(doc)
    assert has_valid_hash(doc)
    edited = copy.deepcopy(doc)
    _tables(edited, "sex")[0]["rows"][0]["impact_ratio"] = 0.81
    assert not has_valid_hash(edited)


def test_evidence_names_reports_heads_bundles_spec_and_each_figures_path(
    src: FakeSource, doc: dict[str, Any]
) -> None:
    ev = doc["evidence"]
    assert ev["report_ids"] == ["r-US-CA-1", "r-US-NY-1", "r-US-NY-2"]
    assert [h["report_id"] for h in ev["audit_heads"]] == ev["report_ids"]
    assert set(ev["policy_bundles"]) == {"US-CA-1", "US-NY-1", "US-NY-2"}
    assert ev["spec_digest"] == src.spec.digest == doc["model"]["spec_digest"]
    figures = {p["figure"] for p in ev["privacy"]}
    assert figures == {
        f"{s}/{t}" for s in ("sex", "race", "intersection") for t in ("selection", "scoring")
    }
    assert doc["as_of_ms"] == max(p.window_end_ms for p in src.history("hiring", "sample_size"))


def test_until_before_a_merged_window_is_refused(src: FakeSource) -> None:
    from fedgov.errors import QueryError

    first = min(p.window_end_ms for p in src.history("hiring", "sample_size"))
    with pytest.raises(QueryError, match="--until"):
        nyc_ll144.build(src, ReportArgs(model="hiring", until_ms=first))
