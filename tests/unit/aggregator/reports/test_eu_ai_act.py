"""The EU AI Act regime: figures equal the query answers they rest on, thresholds equal
the bundles', and the same answers give the same bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from support.report_source import DAY, EU_BUNDLE, MODEL, T0, fake_source, report_args

from aggregator import answers as a
from aggregator.reports.document import canonical_json, has_valid_hash
from aggregator.reports.regimes import eu_ai_act
from aggregator.reports.source import ReportArgs
from fedgov.errors import QueryError
from fedgov.policy import default_bundle_path, load_bundle


def _blocks(doc: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    return next(s for s in doc["sections"] if s["id"] == sid)["blocks"]


def _plots(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for s in doc["sections"] for b in s["blocks"] if b.get("plot") == kind]


def Args(**kw: Any) -> ReportArgs:  # noqa: N802 - reads like the class it makes
    return report_args("eu-ai-act", **kw)


def regime_source() -> Any:
    return fake_source()


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return eu_ai_act.build(regime_source(), Args(policies=(str(EU_BUNDLE),)))


def test_thresholds_shown_are_the_bundles_resolved_per_jurisdiction(doc: dict[str, Any]) -> None:
    rows = _blocks(doc, "monitoring")[1]["rows"]
    default = load_bundle(default_bundle_path())
    shown = {r["threshold"]: r["value"] for r in rows if r["jurisdiction"] == "US-NY"}
    flat = default.data["fedgov"]["thresholds"]
    assert shown == {k: str(v) for k, v in flat.items()}
    assert all(r["bundle"] == default.digest for r in rows if r["silos"] == "ny-1")

    eu = load_bundle(EU_BUNDLE)
    de = {r["threshold"]: r["value"] for r in rows if r["jurisdiction"] == "EU-DE"}
    table = eu.data["fedgov"]["thresholds"]
    want = table["default"] | table["EU-*"]
    assert de == {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in want.items()}
    assert de["max_staleness_hours"] == "72"  # the EU-* layer overrides the default 168


def test_a_bundle_the_report_cannot_read_is_named_not_guessed() -> None:
    doc = eu_ai_act.build(regime_source(), Args())  # the EU bundle's folder not given
    block = _blocks(doc, "monitoring")[1]
    eu = load_bundle(EU_BUNDLE).digest
    assert not [r for r in block["rows"] if r["bundle"] == eu]
    assert any(eu in note for note in block["notes"])


def _period(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def test_drift_heatmap_is_the_worst_psi_of_each_period_from_history(doc: dict[str, Any]) -> None:
    (heat,) = _plots(doc, "drift_heatmap")
    data = heat["data"]
    assert set(data) == {"periods", "silos", "silos_total", "features", "psi", "threshold"}
    src = regime_source()
    assert data["periods"] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    for fi, feature in enumerate(data["features"]):
        points = [p for p in src.history(MODEL, "psi", feature=feature) if p.version == "1.0.0"]
        for pi, period in enumerate(data["periods"]):
            for si, silo in enumerate(data["silos"]):
                values = [
                    p.value
                    for p in points
                    if p.silo == silo and _period(p.window_end_ms) == period and p.value is not None
                ]
                assert data["psi"][pi][si][fi] == (max(values) if values else None)
    # EU-DE drifted from the second day on; EU-FR never did.
    income, de, fr = data["features"].index("income"), data["silos"].index("de-1"), 1
    assert data["psi"][0][de][income] < 0.2 < data["psi"][2][de][income]
    assert all(v < 0.2 for per in data["psi"] for v in per[fr])
    above = _blocks(doc, "drift")[1]["rows"]
    cells = {
        (data["periods"][p], data["silos"][s], data["features"][f])
        for p, per in enumerate(data["psi"])
        for s, row in enumerate(per)
        for f, v in enumerate(row)
        if v is not None and v > 0.2
    }
    assert {(r["period"], r["silo"], r["feature"]) for r in above} == cells
    assert {r["silo"] for r in above} == {"de-1"}


def test_fairness_over_time_is_each_jurisdictions_history(doc: dict[str, Any]) -> None:
    plots = {p["data"]["label"]: p["data"] for p in _plots(doc, "fairness_over_time")}
    names = ["demographic parity ratio of " + a for a in ("age_band", "race_ethnicity", "sex")]
    assert sorted(plots) == names
    sex = plots[names[2]]
    assert set(sex) == {"series", "threshold", "label"}  # the plots' contract
    points = [
        p
        for p in regime_source().history(MODEL, "demographic_parity_ratio", attribute="sex")
        if p.version == "1.0.0"
    ]
    for series in sex["series"]:
        mine = [p for p in points if p.jurisdiction == series["jurisdiction"]]
        want = sorted([_day_start(p.window_end_ms), p.value] for p in mine)
        assert series["points"] == want and len(want) == 3  # one window a day: itself
    ny = next(s for s in sex["series"] if s["jurisdiction"] == "US-NY")
    assert all(v < 0.8 for _, v in ny["points"])  # the biased silo stays under the line
    assert sex["threshold"] == 0.8


def _day_start(t_ms: int) -> int:
    return t_ms - t_ms % DAY


def test_timeline_events_are_the_jobs_and_versions(doc: dict[str, Any]) -> None:
    (timeline,) = _plots(doc, "timeline")
    events = timeline["data"]["events"]
    src = regime_source()
    jobs, versions = src.jobs(model_id=MODEL), src.models(model_id=MODEL)
    assert set(timeline["data"]) == {"events"}
    assert len(events) == len(jobs) + len(versions)
    assert sorted(e["t_ms"] for e in events) == sorted(
        [j.created_ms for j in jobs] + [v.created_ms for v in versions]
    )
    for j in jobs:
        (e,) = [e for e in events if e["t_ms"] == j.created_ms]
        assert e["kind"] == "retraining" and j.job_id in e["label"] and j.state in e["label"]
    for v in versions:
        (e,) = [e for e in events if e["t_ms"] == v.created_ms]
        assert e["kind"] == v.status and v.version in e["label"]
    lineage = _blocks(doc, "corrective")[1]["rows"]
    promoted = next(r for r in lineage if r["version"] == "1.0.1")
    assert promoted["flower_run_id"] == "4242" and promoted["reweigh_attribute"] == "sex"
    assert "re-annotation" in _blocks(doc, "corrective")[3]["paragraphs"][0].lower()


def test_findings_count_the_policy_decisions_per_day(doc: dict[str, Any]) -> None:
    rows = _blocks(doc, "findings")[0]["rows"]
    decisions = [x for x in regime_source().decisions() if x.version == "1.0.0"]
    for r in rows:
        if r["where"].startswith("central"):
            continue
        silo = r["where"].split(" ")[0]
        mine = [x for x in decisions if x.silo == silo and _period(x.window_end_ms) == r["period"]]
        assert r["windows"] == len(mine)
        assert r["denied"] == sum(1 for x in mine if not x.allow)
    de_last = next(x for x in rows if x["where"] == "de-1 (EU-DE)" and x["period"] == "2025-01-03")
    assert de_last["denied"] == 1 and "income" in de_last["findings"]


def test_every_figure_says_its_privacy_path(doc: dict[str, Any]) -> None:
    paths = {p["figure"]: p["source"] for p in doc["evidence"]["privacy"]}
    for plot in _plots(doc, "drift_heatmap") + _plots(doc, "fairness_over_time"):
        assert eu_ai_act.PER_SILO in plot["alt"]
    assert paths["fairness over time: sex"] == eu_ai_act.PER_SILO
    assert paths["drift over time: income"] == eu_ai_act.PER_SILO
    merged = regime_source().fairness(MODEL, model_version="1.0.0")
    assert paths["merged figures: *"] == merged.source
    for b in _blocks(doc, "accuracy"):
        assert b["rows"] and f"Privacy path of the * figures: {merged.source}." in b["notes"]
        # each jurisdiction's rows have their own note; intersections only for the whole scope
        scopes = {r["scope"] for r in b["rows"]}
        assert all(
            any(n.startswith(f"Privacy path of the {s} ") for n in b["notes"]) for s in scopes
        )
        assert all(r["scope"] == "*" for r in b["rows"] if "*" in r["attribute"])


def test_same_answers_same_bytes_and_as_of_is_the_newest_evidence() -> None:
    one = eu_ai_act.build(regime_source(), Args(policies=(str(EU_BUNDLE),)))
    two = eu_ai_act.build(regime_source(), Args(policies=(str(EU_BUNDLE),)))
    assert canonical_json(one) == canonical_json(two) and has_valid_hash(one)
    src = regime_source()
    newest = max(w.end_ms for w in src.windows if w.version == "1.0.0")
    jobs = [j.created_ms for j in src.jobs()] + [v.created_ms for v in src.models()]
    assert one["as_of_ms"] == max(newest, *jobs)
    assert one["arguments"]["policies"] == [str(EU_BUNDLE)]
    cut = T0 + DAY + DAY // 2  # the merged figures are each silo's newest: refused
    with pytest.raises(QueryError, match="--until"):
        eu_ai_act.build(regime_source(), Args(until_ms=cut))


def test_a_withheld_group_is_shown_as_withheld_with_its_rows() -> None:
    held = ({"table": "outcome", "name": "sex", "group": "F", "rows": 7},)
    doc = eu_ai_act.build(fake_source(withheld=held), Args())
    for block in _blocks(doc, "accuracy"):
        f_rows = [r for r in block["rows"] if r["attribute"] == "sex" and r["group"] == "F"]
        assert f_rows and all(r["count"] == {"withheld": 7} for r in f_rows)
    assert "withheld" in json.dumps(_blocks(doc, "accuracy"))


def test_a_metric_no_report_has_a_number_for_leaves_its_series_empty() -> None:
    src = regime_source()
    plain = src.history

    def history(model_id: str, metric: str, **kw: Any) -> list[a.HistoryPoint]:
        if kw.get("attribute") == "age_band":
            raise QueryError("metric 'demographic_parity_ratio' is in none of the 9 report(s)")
        return plain(model_id, metric, **kw)

    src.history = history  # type: ignore[method-assign]
    doc = eu_ai_act.build(src, Args())
    plots = {
        p["data"]["label"].split(" of ")[-1]: p["data"] for p in _plots(doc, "fairness_over_time")
    }
    assert plots["age_band"]["series"] == [] and len(plots["sex"]["series"]) == 3


def test_a_large_federation_draws_its_worst_silos_and_jurisdictions_and_says_so() -> None:
    """200 silos: the heat map keeps the 12 with the highest PSI (the drifted one among
    them) and the fairness plot the 12 jurisdictions that came lowest."""

    def point(i: int, value: float) -> a.HistoryPoint:
        silo = f"S{i:03d}"
        return a.HistoryPoint(silo, f"J-{silo}", "1.0.0", T0, value, f"r{i}")

    psi = [point(i, 3.0 if i == 137 else 0.01 * (i % 7)) for i in range(200)]
    heat, above = eu_ai_act.drift_heatmap({"income": psi}, "day")
    assert len(heat["silos"]) == eu_ai_act.MAX_DRAWN and heat["silos_total"] == 200
    assert "S137" in heat["silos"] and [r["silo"] for r in above] == ["S137"]
    ratios = [point(i, 0.5 if i == 42 else 0.9 + 0.0001 * i) for i in range(200)]
    lines = eu_ai_act.fairness_series(ratios, "day")
    assert len(lines) == eu_ai_act.MAX_DRAWN and "J-S042" in {s["jurisdiction"] for s in lines}
    assert {s["jurisdiction"] for s in lines} == {f"J-S{i:03d}" for i in [42, *range(11)]}


def test_many_drift_alerts_list_the_highest_and_say_how_many() -> None:
    """200 drifted silos: the table lists the 50 highest PSI cells and names the total."""
    src = fake_source()
    plain = src.history

    def history(model_id: str, metric: str, **kw: Any) -> list[a.HistoryPoint]:
        if metric != "psi":
            return plain(model_id, metric, **kw)
        return [
            a.HistoryPoint(f"S{i:03d}", "EU-DE", "1.0.0", T0, 0.3 + i / 1000, f"r{i}")
            for i in range(200)
        ]

    src.history = history  # type: ignore[method-assign]
    doc = eu_ai_act.build(src, Args())
    table = next(b for b in _blocks(doc, "drift") if b["kind"] == "table")
    features = len(
        next(b for b in _blocks(doc, "drift") if b["kind"] == "plot")["data"]["features"]
    )
    assert len(table["rows"]) == eu_ai_act.MAX_LISTED
    assert min(r["psi"] for r in table["rows"]) > 0.3 + 150 / 1000 - 1e-9  # the highest ones
    assert f"{200 * features} cells" in table["notes"][0]
