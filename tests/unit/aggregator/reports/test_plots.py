"""The report plots: deterministic SVG whose numbers and labels are text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import matplotlib
import pytest

from aggregator.reports import plots
from aggregator.reports.document import PLOTS

DAY = 86_400_000
T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z

SELECTION: dict[str, Any] = {
    "groups": [
        {
            "name": "Female",
            "rate": 0.30952,
            "impact_ratio": 0.7312,
            "small": False,
            "withheld": False,
        },
        {"name": "Male", "rate": 0.42332, "impact_ratio": 1.0, "small": False, "withheld": False},
        {
            "name": "Pacific Islander",
            "rate": 0.25,
            "impact_ratio": 0.5906,
            "small": True,
            "withheld": False,
        },
        {
            "name": "Female*Asian",
            "rate": None,
            "impact_ratio": None,
            "small": False,
            "withheld": 37,
        },
    ],
    "threshold": 0.8,
}
OVER_TIME: dict[str, Any] = {
    "series": [
        {
            "jurisdiction": "US-NY",
            "points": [[T0, 0.91], [T0 + 7 * DAY, None], [T0 + 14 * DAY, 0.7312]],
        },
        {"jurisdiction": "EU-DE", "points": [[T0, 0.95], [T0 + 14 * DAY, 0.9321]]},
    ],
    "threshold": 0.8,
    "label": "impact ratio",
}
HEATMAP: dict[str, Any] = {
    "silos": ["EU-DE", "EU-FR"],
    "features": ["income", "age"],
    "periods": ["2024-W18", T0 + 7 * DAY],
    "psi": [[[0.01, 0.02], [0.03, None]], [[0.4712, 0.05], [0.02, 0.01]]],
    "threshold": 0.2,
}
TIMELINE: dict[str, Any] = {
    "events": [
        {"t_ms": T0 + 3 * DAY, "kind": "promotion", "label": "v2 promoted"},
        {"t_ms": T0 + DAY, "kind": "retraining job", "label": "job-7 reweighing"},
    ]
}
SAMPLES = {
    "selection_rates": SELECTION,
    "fairness_over_time": OVER_TIME,
    "drift_heatmap": HEATMAP,
    "timeline": TIMELINE,
}


def texts(svg: str) -> list[str]:
    """Every <text> element's content: what a reader (and a DOM search) finds."""
    root = ET.fromstring(svg)
    return ["".join(el.itertext()).strip() for el in root.iter("{http://www.w3.org/2000/svg}text")]


def test_every_document_plot_kind_has_a_renderer() -> None:
    for kind in PLOTS:
        assert plots.render_svg(kind, SAMPLES[kind]).startswith("<svg")


@pytest.mark.parametrize("kind", PLOTS)
def test_the_same_data_gives_the_same_bytes(kind: str) -> None:
    assert plots.render_svg(kind, SAMPLES[kind]) == plots.render_svg(kind, SAMPLES[kind])


@pytest.mark.parametrize("kind", PLOTS)
def test_svg_has_no_date_and_text_is_text(kind: str) -> None:
    svg = plots.render_svg(kind, SAMPLES[kind])
    assert "<dc:date>" not in svg
    assert "<text" in svg and "<path" in svg
    assert "DejaVu Sans" in svg


@pytest.mark.parametrize("kind", PLOTS)
def test_empty_data_says_no_data(kind: str) -> None:
    svg = plots.render_svg(kind, {})
    assert "no data" in texts(svg)


def test_different_data_gives_different_ids() -> None:
    """Two plots inlined in one page must not share an id."""
    other = {**SELECTION, "groups": SELECTION["groups"][:2]}
    ids_a = set(re.findall(r'\bid="([^"]+)"', plots.selection_rates(SELECTION)))
    ids_b = set(re.findall(r'\bid="([^"]+)"', plots.selection_rates(other)))
    assert ids_a and ids_b and not ids_a & ids_b


@pytest.mark.parametrize("kind", PLOTS)
def test_id_prefix_scopes_every_id_and_reference(kind: str) -> None:
    svg = plots.render_svg(kind, SAMPLES[kind], id_prefix="s1-b2-")
    ids = re.findall(r'\bid="([^"]+)"', svg)
    refs = re.findall(r'(?:url\(#|href="#)([^")]+)', svg)
    assert ids and all(i.startswith("s1-b2-") for i in ids + refs)
    assert set(refs) <= set(ids)  # clip paths, markers and hatches still resolve


def test_selection_rates_labels_numbers_threshold_withheld_and_small() -> None:
    found = texts(plots.selection_rates(SELECTION))
    assert {"Selection rate", "Impact ratio"} <= set(found)
    assert {"0.310", "0.423", "0.731", "1.000", "0.591"} <= set(found)
    assert "0.8" in found  # the threshold line is labelled
    assert found.count("withheld (37 rows)") == 2  # one bar per panel, never a zero bar
    assert "Pacific Islander  (< 2%)" in found
    assert "Female*Asian" in found


def test_selection_rates_withheld_bars_are_hatched() -> None:
    svg = plots.selection_rates(SELECTION)
    assert "<pattern" in svg  # matplotlib draws hatches as SVG patterns
    clear = {**SELECTION, "groups": SELECTION["groups"][:3]}
    assert "<pattern" not in plots.selection_rates(clear)


def test_selection_rates_threshold_defaults_to_point_eight() -> None:
    data = {"groups": SELECTION["groups"][:2]}
    assert "0.8" in texts(plots.selection_rates(data))


def test_fairness_over_time_names_each_jurisdiction_with_its_last_value() -> None:
    found = texts(plots.fairness_over_time(OVER_TIME))
    assert "US-NY 0.731" in found and "EU-DE 0.932" in found
    assert "threshold 0.8" in found
    assert "impact ratio" in found


def test_drift_heatmap_writes_each_cell_and_marks_missing_ones() -> None:
    found = texts(plots.drift_heatmap(HEATMAP))
    assert {"0.47", "0.05", "0.01", "0.03"} <= set(found)
    assert found.count("–") == 1  # the one None cell: no data, not 0.00
    assert "2024-W18" in found and "2024-05-08" in found  # a t_ms period is a UTC date
    assert {"EU-DE", "EU-FR", "income", "age"} <= set(found)


def test_drift_heatmap_bolds_cells_over_threshold() -> None:
    svg = plots.drift_heatmap(HEATMAP)
    bold = re.findall(r"<text[^>]*font-weight: (?:700|bold)[^>]*>([^<]*)</text>", svg)
    assert "0.47" in bold and "0.05" not in bold


def test_timeline_labels_every_event_in_its_lane() -> None:
    found = texts(plots.timeline(TIMELINE))
    assert {"v2 promoted", "job-7 reweighing", "promotion", "retraining job"} <= set(found)


def test_single_event_timeline_draws() -> None:
    found = texts(plots.timeline({"events": TIMELINE["events"][:1]}))
    assert "v2 promoted" in found


def test_bad_values_are_skipped_not_raised() -> None:
    data = {"series": [{"jurisdiction": "X", "points": [["soon", 1], [T0, "high"], [T0, 0.5]]}]}
    assert "X 0.500" in texts(plots.fairness_over_time(data))
    assert "no data" in texts(plots.drift_heatmap({"silos": ["a"], "features": [], "periods": []}))


def test_unknown_kind_is_a_value_error_naming_the_kinds() -> None:
    with pytest.raises(ValueError, match="selection_rates"):
        plots.render_svg("pie", {})


def test_no_global_state_leaks() -> None:
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams)
    figures = plt.get_fignums()
    for kind in PLOTS:
        plots.render_svg(kind, SAMPLES[kind])
    assert plt.get_fignums() == figures
    assert dict(matplotlib.rcParams) == before


def test_one_moment_in_time_gets_an_hour_of_axis_not_years() -> None:
    """A single window per jurisdiction: the axis labels the hour it is in, never a span
    of years that a date locator widens an empty range to."""
    t = 1_796_652_706_391  # 2026-12-07T14:11:46Z
    svg = plots.fairness_over_time(
        {"series": [{"jurisdiction": "EU-DE", "points": [[t, 0.9]]}], "threshold": 0.8}
    )
    assert "14:" in svg and "2028" not in svg and "2030" not in svg
