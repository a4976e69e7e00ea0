"""The numbers of the model page's plots, from typed query answers."""

from __future__ import annotations

from aggregator.answers import DriftRow, Fairness, HistoryPoint, JobRow, ModelVersion
from aggregator.dashboard import plot_data

DAY = 86_400_000


def _fairness(groups: dict[str, dict[str, float]], **kw: object) -> Fairness:
    return Fairness(
        "m",
        "1",
        ("A", "B"),
        ("EU-DE", "US-NY"),
        1000,
        2,
        {"fairness": {"sex": {"groups": groups}, "sex*age": {"groups": {}}}},
        **kw,  # type: ignore[arg-type]
    )


def test_selection_rates_carry_impact_ratios_small_groups_and_skip_empty_ones() -> None:
    answer = _fairness(
        {
            "F": {"count": 480, "selection_rate": 0.3},
            "M": {"count": 505, "selection_rate": 0.5},
            "X": {"count": 15, "selection_rate": 0.4},
            "__missing__": {"count": 0, "selection_rate": None},
        }
    )
    assert plot_data.sensitive_attributes(answer) == ["sex", "sex*age"]
    data = plot_data.selection_rates(answer, "sex")
    assert data["threshold"] == 0.8
    by = {g["name"]: g for g in data["groups"]}
    assert list(by) == ["F", "M", "X"]  # sorted; the empty slot says nothing
    assert by["F"]["impact_ratio"] == 0.3 / 0.5 and by["M"]["impact_ratio"] == 1.0
    assert [g["small"] for g in data["groups"]] == [False, False, True]  # 15 < 2% of 1000
    assert not any(g["withheld"] for g in data["groups"])


def test_a_withheld_group_is_shown_withheld_never_as_a_rate() -> None:
    """As a secure sum's answer carries it: ``Fairness.withheld`` rows from release control."""
    answer = _fairness(
        {"F": {"count": 0}, "M": {"count": 600, "selection_rate": 0.5}},
        withheld=({"table": "outcome", "name": "sex", "group": "F", "rows": 7},),
    )
    by = {g["name"]: g for g in plot_data.selection_rates(answer, "sex")["groups"]}
    assert by["F"]["withheld"] == 7 and by["F"]["rate"] is None and by["F"]["impact_ratio"] is None


def _point(silo: str, j: str, t: int, v: float | None) -> HistoryPoint:
    return HistoryPoint(silo, j, "1", t, v, f"r{t}")


def test_fairness_over_time_has_one_series_per_jurisdiction_or_per_silo_where_shared() -> None:
    points = [
        _point("US-NY", "US-NY", 2, 0.7),
        _point("US-NY", "US-NY", 1, 0.9),
        _point("DE-1", "EU-DE", 1, 0.95),
        _point("DE-2", "EU-DE", 1, None),
        _point("DE-2", "EU-DE", 2, 0.85),
    ]
    series = plot_data.fairness_over_time(points)["series"]
    assert series == [
        {"jurisdiction": "EU-DE/DE-1", "points": [[1, 0.95]]},
        {"jurisdiction": "EU-DE/DE-2", "points": [[2, 0.85]]},
        {"jurisdiction": "US-NY", "points": [[1, 0.9], [2, 0.7]]},
    ]


def _drift(silo: str, feature: str, t: int, psi: float) -> DriftRow:
    return DriftRow(silo, silo, "m", "1", feature, psi, None, t, f"r{t}")


def test_drift_heatmap_keeps_the_highest_psi_per_day_silo_and_feature() -> None:
    rows = [
        _drift("A", "income", DAY + 1, 0.1),
        _drift("A", "income", DAY + 5, 0.4),
        _drift("B", "age", 2 * DAY, 0.3),
    ] + [_drift("A", "age", k * DAY, 0.01) for k in range(3, 12)]
    data = plot_data.drift_heatmap(rows)
    assert len(data["periods"]) == plot_data.MAX_PERIODS and data["periods"][0] == "1970-01-05"
    old = plot_data.drift_heatmap(rows[:3])
    assert old["periods"] == ["1970-01-02", "1970-01-03"]
    assert old["silos"] == ["A", "B"] and old["features"] == ["age", "income"]
    assert old["psi"] == [[[None, 0.4], [None, None]], [[None, None], [0.3, None]]]


def test_timeline_orders_jobs_and_versions_by_time() -> None:
    job = JobRow("j1", "m", "1", "done", "US-NY denies", 20, ("A",), ("A",), "", "2")
    versions = [
        ModelVersion("m", "2", "promoted", 30, "sha256:x", ("production",), {}, 0),
        ModelVersion("m", "1", "retired", 10, "sha256:y", (), {}, 0),
    ]
    events = plot_data.timeline([job], versions)["events"]
    assert [(e["t_ms"], e["kind"]) for e in events] == [
        (10, "version"),
        (20, "retraining"),
        (30, "promotion"),
    ]
    assert "candidate 2" in events[1]["label"] and "(production)" in events[2]["label"]


def test_an_empty_unknown_cell_of_an_intersection_is_not_drawn_and_never_the_top() -> None:
    answer = _fairness({})
    answer.metrics["fairness"]["sex*age"]["groups"] = {
        "F|<30": {"count": 400, "selection_rate": 0.3},
        "M|<30": {"count": 500, "selection_rate": 0.5},
        "F|__missing__": {"count": 0, "selection_rate": None},
        "M|__other__": {"count": 20, "selection_rate": 0.9},  # unknown: shown, not the top
    }
    by = {g["name"]: g for g in plot_data.selection_rates(answer, "sex*age")["groups"]}
    assert sorted(by) == ["F|<30", "M|<30", "M|__other__"]
    assert by["M|<30"]["impact_ratio"] == 1.0 and by["M|__other__"]["impact_ratio"] == 0.9 / 0.5
