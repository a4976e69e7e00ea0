"""The nyc-ll144 regime on real merged metrics, checked against pandas on the same rows."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pandas as pd
import pytest
from support.report_source import MODEL, FakeSource, fake_source, replace

from aggregator.reports.document import canonical_json, has_valid_hash
from aggregator.reports.regimes import nyc_ll144
from aggregator.reports.source import ReportArgs
from fedgov.synthetic import RACE_ETHNICITY

ARGS = ReportArgs(model=MODEL, version="1.0.0")


@pytest.fixture(scope="module")
def src() -> FakeSource:
    return fake_source()


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
    rows = src.rows("1.0.0")
    sex, race = rows["sex"], rows["race_ethnicity"]
    inter = (sex + " / " + race).where(race.notna())
    for sid, key in (("sex", sex), ("race", race), ("intersection", inter)):
        table = _tables(doc, sid)[0]
        _check(table, _oracle(rows, key, rows["approved"].astype(float)), "selection_rate")
        for row in table["rows"]:
            assert row["selected"] == rows.loc[key == row["category"], "approved"].sum()


def test_women_in_ny_fall_below_four_fifths(src: FakeSource) -> None:
    doc = nyc_ll144.build(src, ReportArgs(model=MODEL, version="1.0.0", jurisdictions="US-NY"))
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
    missing = int(src.rows("1.0.0")["race_ethnicity"].isna().sum())
    assert missing > 0
    facts = dict(next(b for b in _section(doc, "race")["blocks"] if b["kind"] == "facts")["items"])
    assert facts["Individuals of unknown category"] == missing
    table = _tables(doc, "race")[0]
    assert sum(r["individuals"] for r in table["rows"]) + missing == len(src.rows("1.0.0"))
    assert all("__" not in r["category"] for r in table["rows"])


def test_scoring_rate_variant_states_its_bound_and_matches_the_rows(
    src: FakeSource, doc: dict[str, Any]
) -> None:
    selection, scoring = _tables(doc, "sex")
    block = src.fairness(MODEL, model_version="1.0.0").metrics["fairness"]["sex"]
    cut, low = block["score_cut"], block["score_cut_low"]
    assert any(f"[{low}, {cut}]" in n for n in scoring["notes"])
    rows = src.rows("1.0.0")
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
    assert next(g for g in plot["data"]["groups"] if g["name"] == "Asian")["withheld"] == 7
    assert any("exact, secure sum of 3 silos" in n for n in table["notes"])


def test_a_spec_without_race_says_so_plainly(src: FakeSource) -> None:
    doc = nyc_ll144.build(src, dataclasses.replace(ARGS, race_attribute="ethnicity"))
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
    assert ev["report_ids"] == ["r-de-1-2", "r-fr-1-2", "r-ny-1-2"]
    assert [h["report_id"] for h in ev["audit_heads"]] == ev["report_ids"]
    assert set(ev["policy_bundles"]) == {"de-1", "fr-1", "ny-1"}
    spec = src.fairness(MODEL, model_version="1.0.0").spec_digest
    assert ev["spec_digest"] == spec == doc["model"]["spec_digest"]
    figures = {p["figure"] for p in ev["privacy"]}
    assert figures == {
        f"{s}/{t}" for s in ("sex", "race", "intersection") for t in ("selection", "scoring")
    } | {f"corrective/{s}/selection" for s in ("sex", "race", "intersection")}
    assert ev["corrective"]["report_ids"] == ["r-de-1-fix", "r-fr-1-fix", "r-ny-1-fix"]
    # as of the newest evidence: the promoted version's windows
    assert doc["as_of_ms"] == max(w.end_ms for w in src.windows)


def test_until_before_a_merged_window_is_refused(src: FakeSource) -> None:
    from fedgov.errors import QueryError

    first = min(p.window_end_ms for p in src.history(MODEL, "sample_size"))
    with pytest.raises(QueryError, match="--until"):
        nyc_ll144.build(src, dataclasses.replace(ARGS, until_ms=first))


def _ratios(table: dict[str, Any]) -> dict[str, Any]:
    return {r["category"]: r["impact_ratio"] for r in table["rows"]}


def test_corrective_actions_show_the_jobs_and_the_promoted_versions_fix(src: FakeSource) -> None:
    """The demo's story: women under 0.8 in US-NY, a retraining job, and the promoted
    1.0.1 whose women's impact ratio is above 0.8 for the same categories."""
    args = ReportArgs(model=MODEL, version="1.0.0", jurisdictions="US-NY")
    doc = nyc_ll144.build(src, args)
    assert _ratios(_tables(doc, "sex")[0])["F"] < 0.8
    section = _section(doc, "corrective")
    assert section["title"] == "Corrective actions since the audit"
    jobs, *fixed = _tables(doc, "corrective")
    assert [(r["job"], r["state"], r["candidate"]) for r in jobs["rows"]] == [
        ("job-0", "failed", "none yet"),
        ("job-1", "promoted", "1.0.1"),
    ]
    assert jobs["rows"][1]["reason"] == "fairness: sex"
    facts = dict(next(b for b in section["blocks"] if b["kind"] == "facts")["items"])
    assert facts["Promoted version"] == "1.0.1" and facts["Reweighed attribute"] == "sex"
    after = _ratios(fixed[0])  # sex, version 1.0.1
    want = src.fairness(MODEL, model_version="1.0.1", jurisdiction_glob="US-NY")
    groups = want.metrics["fairness"]["sex"]["groups"]
    top = max(groups["F"]["selection_rate"], groups["M"]["selection_rate"])
    assert after["F"] == pytest.approx(groups["F"]["selection_rate"] / top)
    assert after["F"] > 0.8
    assert len(fixed) == 3  # sex, race/ethnicity and their intersection
    plots = [b for b in section["blocks"] if b["kind"] == "plot"]
    assert len(plots) == 3 and "version 1.0.1" in plots[0]["alt"]


def test_without_a_promotion_the_section_says_so(src: FakeSource) -> None:
    doc = nyc_ll144.build(fake_source(promoted=False), ARGS)
    texts = [
        p
        for b in _section(doc, "corrective")["blocks"]
        if b["kind"] == "text"
        for p in b["paragraphs"]
    ]
    assert "No version was promoted after 1.0.0." in texts
    assert "corrective" not in doc["evidence"]
